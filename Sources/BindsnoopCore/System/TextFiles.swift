import Glibc

/// The first line of a small text file, trimmed; nil if unreadable or empty.
func firstLine(of path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    guard fgets(&line, Int32(line.count), file) != nil else { return nil }
    let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let trimmed = text.filter { !$0.isWhitespace }
    return trimmed.isEmpty ? nil : trimmed
}

/// A small file's first `limit` bytes, and whether there was more
/// (non-blocking: a FIFO in its place reads as empty).
func readBounded(_ path: String, limit: Int) -> (bytes: [UInt8], cut: Bool)? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readBounded(descriptor: fd, limit: limit)
}

/// The first `limit` bytes from an open file, and whether there was more.
func readBounded(descriptor fd: Int32, limit: Int) -> (bytes: [UInt8], cut: Bool) {
    var buffer = [UInt8](repeating: 0, count: limit + 1)
    var total = 0
    while total < buffer.count {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        total += n
    }
    return (Array(buffer.prefix(min(total, limit))), total > limit)
}

/// A regular file's whole content, nil when it is not one, is unreadable or
/// holds more than `limit` bytes (the buffer is the file's size, not the limit).
func readRegularFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size <= limit else { return nil }
    let read = readBounded(descriptor: fd, limit: Int(status.st_size))
    return read.cut ? nil : read.bytes
}
