import Glibc

/// Lines to stdout, written in full (blocking while a slow reader catches up).
public final class StandardOutputSink: Sink {
    public let name: String
    private let fd: Int32
    public private(set) var statistics = SinkStatistics()

    public init(fd: Int32 = STDOUT_FILENO, name: String = "stdout") {
        self.fd = fd
        self.name = name
    }

    public func write(_ lines: LineBatch) throws(SinkError) {
        do throws(Errno) {
            try writeAll(fd: fd, lines.bytes)
        } catch {
            throw .writing(error, sink: name)
        }
        statistics.lines += UInt64(lines.count)
        statistics.bytes += UInt64(lines.bytes.count)
    }
}
