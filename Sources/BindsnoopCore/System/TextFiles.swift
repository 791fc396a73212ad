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
