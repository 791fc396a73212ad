#if canImport(Glibc)
import Glibc
#endif

/// One diagnostic line to stderr in a single write (no stdio buffering to share).
public func writeStandardError(_ line: String) {
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    text.withUTF8 { bytes in
        _ = try? writeAll(fd: STDERR_FILENO, UnsafeRawBufferPointer(bytes), sink: "stderr")
    }
}
