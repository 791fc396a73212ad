#if canImport(Glibc)
import Glibc
#endif

/// Lines to an already open descriptor (stdout), written in full.
public final class FileDescriptorSink: Sink {
    public let name: String
    private let fd: Int32

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    public static func standardOutput() -> FileDescriptorSink {
        FileDescriptorSink(fd: STDOUT_FILENO, name: "stdout")
    }

    public func write(_ batch: LineBatch) throws(SinkError) {
        try writeAll(fd: fd, batch.bytes, sink: name)
    }
}

/// write(2) until every byte is out; waits on a non-blocking descriptor.
func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, sink: String) throws(SinkError) {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n >= 0 {
            offset += n
            continue
        }
        switch errno {
        case EINTR:
            continue
        case EAGAIN:
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, -1)
        case EPIPE:
            throw .readerGone(sink: sink)
        case let code:
            throw .failed(sink: sink, errno: code)
        }
    }
}
