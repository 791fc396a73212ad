import Foundation
import Logging

/// A `Logger` whose messages a test can read back, with their levels;
/// `onMessage` sees each as it is logged (from any thread).
final class LogRecorder: @unchecked Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let lock = NSLock()
    private var entries: [Entry] = []
    private let onMessage: @Sendable (Entry) -> Void

    init(onMessage: @escaping @Sendable (Entry) -> Void = { _ in }) {
        self.onMessage = onMessage
    }

    var all: [Entry] { lock.withLock { entries } }
    var messages: [String] { all.map(\.message) }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    fileprivate func add(_ entry: Entry) {
        lock.withLock { entries.append(entry) }
        onMessage(entry)
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.add(Entry(level: event.level, message: "\(event.message)"))
        }
    }
}
