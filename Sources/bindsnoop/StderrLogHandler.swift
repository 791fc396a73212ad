import BindsnoopCore
import Logging

/// Diagnostics as one line each on stderr: `bindsnoop: LEVEL: message key=value`.
/// stdout carries events only.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var text = "bindsnoop: \(event.level): \(event.message)"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            text += " \(key)=\(value)"
        }
        writeStandardError(text)
    }
}
