import Logging

/// The session's sinks. A sink whose reader went away (a closed pipe) is
/// closed and dropped, and the others go on; any other failure ends the run.
struct SinkSet {
    private var sinks: [Sink]
    private let logger: Logger

    init(_ sinks: [Sink], logger: Logger) {
        self.sinks = sinks
        self.logger = logger
    }

    var isEmpty: Bool { sinks.isEmpty }

    /// Every sink still running, by name.
    var statistics: [(name: String, statistics: SinkStatistics)] {
        sinks.map { ($0.name, $0.statistics) }
    }

    /// What each scheduled sink wants from the event loop.
    var interests: [SinkInterest] {
        sinks.compactMap { ($0 as? ScheduledSink)?.interest }
    }

    mutating func write(_ lines: LineBatch) throws(SinkError) {
        try forEach { sink throws(SinkError) in try sink.write(lines) }
    }

    /// After a signal to reopen, once a second (`all`), or for sinks with work waiting.
    mutating func tick(reopen: Bool, all: Bool) throws(SinkError) {
        try forEach { sink throws(SinkError) in
            guard let sink = sink as? ScheduledSink else { return }
            if reopen { try sink.reopen() }
            if all || sink.interest != .idle { try sink.tick() }
        }
    }

    /// At the end of the run: flush, then close, every sink.
    mutating func finish() throws(SinkError) {
        try forEach { sink throws(SinkError) in try sink.flush() }
        for sink in sinks { sink.close() }
    }

    private mutating func forEach(_ body: (Sink) throws(SinkError) -> Void) throws(SinkError) {
        var gone: [ObjectIdentifier] = []
        for sink in sinks {
            do {
                try body(sink)
            } catch .readerGone(let name) {
                logger.info("output closed by its reader", metadata: ["sink": "\(name)"])
                sink.close()
                gone.append(ObjectIdentifier(sink))
            }
        }
        if !gone.isEmpty { sinks.removeAll { gone.contains(ObjectIdentifier($0)) } }
    }
}
