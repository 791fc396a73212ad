import Glibc

/// One diagnostic line to stderr in a single write (no stdio buffering to share).
public func writeStandardError(_ line: String) {
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    text.withUTF8 { bytes in
        _ = try? writeAll(fd: STDERR_FILENO, UnsafeRawBufferPointer(bytes))
    }
}

/// write(2) until every byte is out; waits on a non-blocking descriptor.
func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
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
        case let code:
            throw Errno(code)
        }
    }
}
