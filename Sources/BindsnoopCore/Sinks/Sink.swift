import Glibc

/// Where encoded lines go: delivery only. A sink receives whole lines, in
/// batches, and never splits a line: it delivers it whole or counts it lost.
/// Sinks run on the reader's thread, driven by the session's event loop
/// (no thread of their own); `ScheduledSink` is how one asks that loop for
/// time between writes.
public protocol Sink: AnyObject {
    var name: String { get }
    /// What it has delivered, dropped and holds (for metrics and heartbeats).
    var statistics: SinkStatistics { get }
    /// Takes a batch of complete lines (borrowed for the call).
    func write(_ lines: LineBatch) throws(SinkError)
    /// At the end of the run: delivers what is buffered, within the sink's own deadline.
    func flush() throws(SinkError)
    func close()
}

extension Sink {
    public func flush() throws(SinkError) {}
    public func close() {}
}

/// A sink's counters since start, and what it holds now.
public struct SinkStatistics: Sendable, Equatable {
    /// Lines handed to the kernel (file: written; unix: sent, a line resent
    /// after a reconnect counted once per send).
    public var lines: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Lines dropped (never delivered), by reason: `buffer_full` (unix: the
    /// forwarder did not keep up), or the errno a file write failed with
    /// (`ENOSPC`, `EDQUOT`, `EIO`, `ENOENT`…).
    public var dropped: [String: UInt64] = [:]
    /// Why the sink is not delivering now, and since when; nil while it delivers.
    public var problem: SinkProblem?
    /// unix: connections made after the first.
    public var reconnects: UInt64 = 0
    /// file: rotations.
    public var rotations: UInt64 = 0
    /// file: rotated files not yet compressed (held for tailers, queued, in
    /// progress), and their bytes.
    public var backlogFiles: UInt64 = 0
    public var backlogBytes: UInt64 = 0
    /// unix: bytes held for the forwarder (unsent, or sent and not yet read).
    public var bufferedBytes: UInt64 = 0

    public init() {}

    /// Every line dropped, whatever the reason.
    public var lost: UInt64 { dropped.values.reduce(0, +) }
}

/// A sink that cannot deliver: the reason in words (for /healthz and the
/// log), and since when (monotonic seconds).
public struct SinkProblem: Sendable, Equatable {
    public var reason: String
    public var since: Double

    public init(_ reason: String, since: Double) {
        self.reason = reason
        self.since = since
    }
}

/// What a sink wants from the event loop until its next tick.
public enum SinkInterest: Equatable, Sendable {
    /// Nothing until the next regular tick (about once a second).
    case idle
    /// Work waiting (lines to retry, a loss to report): tick again soon.
    case soon
    /// Lines the peer would not take yet: tick when this descriptor is writable.
    case writable(Int32)
}

/// A sink with work of its own between writes: rotating on age,
/// reconnecting, retrying what is buffered.
public protocol ScheduledSink: Sink {
    var interest: SinkInterest { get }
    /// About once a second, and whenever `interest` is not `.idle`.
    func tick() throws(SinkError)
    /// SIGHUP: start a new file, reconnect.
    func reopen() throws(SinkError)
}

/// A sink that creates files later: before bindsnoop gives up root, what it
/// must create or write (a log directory, its files) becomes the user's.
public protocol FileOwningSink: Sink {
    func handOver(to uid: uid_t, gid: gid_t) throws(SinkError)
}

public enum SinkError: Error, CustomStringConvertible, Equatable {
    /// The reader went away (a closed pipe): this sink is done.
    case readerGone(sink: String)
    case failed(sink: String, errno: Int32)
    /// fsync refused: what was written may not be on the disk.
    case syncFailed(sink: String, errno: Int32)
    case setup(ConfigError)

    /// A write of `sink`'s that failed: EPIPE means its reader is gone.
    static func writing(_ error: Errno, sink: String) -> SinkError {
        error.code == EPIPE ? .readerGone(sink: sink) : .failed(sink: sink, errno: error.code)
    }

    public var description: String {
        switch self {
        case .readerGone(let sink): "\(sink): the reader closed its end"
        case .failed(let sink, let errno): "\(sink): write failed (\(errorName(errno)))"
        case .syncFailed(let sink, let errno): "\(sink): the lines written may not be on the disk (fsync: \(errorName(errno)))"
        case .setup(let error): error.description
        }
    }
}
