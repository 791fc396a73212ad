#if canImport(Glibc)
import Glibc
#endif

/// Where encoded lines go. A sink receives whole lines only, in batches,
/// and never splits a line: it delivers it whole or counts it lost.
public protocol Sink: AnyObject {
    var name: String { get }
    /// Takes a batch of complete lines.
    func write(_ batch: LineBatch) throws(SinkError)
    /// Called about once a second and whenever `hasPending`: time-based
    /// rotation, reconnecting, retrying what is buffered.
    func housekeeping() throws(SinkError)
    /// SIGHUP: start a new file, reconnect.
    func reopen() throws(SinkError)
    /// Delivers what is buffered, within the sink's own deadline.
    func flush() throws(SinkError)
    func close()
    /// Lines waiting for a peer; the event loop then wakes more often.
    var hasPending: Bool { get }
    /// Before bindsnoop gives up root: make what the sink must create or
    /// write later (a log directory, its files) the user's.
    func handOver(to uid: uid_t, gid: gid_t) throws(SinkError)
    /// A descriptor the event loop should wait on for writability (the
    /// sink has lines its peer would not take yet), nil otherwise.
    var writableWaitDescriptor: Int32? { get }
}

extension Sink {
    public func housekeeping() throws(SinkError) {}
    public func reopen() throws(SinkError) {}
    public func flush() throws(SinkError) {}
    public func close() {}
    public var hasPending: Bool { false }
    public func handOver(to uid: uid_t, gid: gid_t) throws(SinkError) {}
    public var writableWaitDescriptor: Int32? { nil }
}

/// A batch of NDJSON lines: `bytes` holds them back to back, each ending in
/// a newline at `lineEnds[i] - 1`; `sequences[i]` is line i's event.sequence
/// (0 for a line without one).
public struct LineBatch {
    public let bytes: UnsafeRawBufferPointer
    public let lineEnds: [Int]
    public let sequences: [UInt64]

    public init(bytes: UnsafeRawBufferPointer, lineEnds: [Int], sequences: [UInt64]) {
        self.bytes = bytes
        self.lineEnds = lineEnds
        self.sequences = sequences
    }

    public var count: Int { lineEnds.count }

    public func line(_ i: Int) -> UnsafeRawBufferPointer {
        let start = i == 0 ? 0 : lineEnds[i - 1]
        return UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnds[i]])
    }
}

public enum SinkError: Error, CustomStringConvertible, Equatable {
    /// The reader went away (a closed pipe): this sink is done.
    case readerGone(sink: String)
    case failed(sink: String, errno: Int32)
    case setup(ConfigError)

    public var description: String {
        switch self {
        case .readerGone(let sink): "\(sink): the reader closed its end"
        case .failed(let sink, let errno): "\(sink): write failed (\(errorName(errno)))"
        case .setup(let error): error.description
        }
    }
}
