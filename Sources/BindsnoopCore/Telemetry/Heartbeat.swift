/// bindsnoop's own counters: read by the metrics endpoint, written into the
/// stream as heartbeats. Taken on the reader's thread, about once a second.
public struct Telemetry: Sendable {
    public struct Counts: Sendable, Equatable {
        public var read: UInt64 = 0
        /// The kernel's ring buffer was full.
        public var lost: UInt64 = 0
        public var rateLimited: UInt64 = 0
        public var malformed: UInt64 = 0

        public init() {}

        func since(_ earlier: Counts) -> Counts {
            var delta = Counts()
            delta.read = read - earlier.read
            delta.lost = lost - earlier.lost
            delta.rateLimited = rateLimited - earlier.rateLimited
            delta.malformed = malformed - earlier.malformed
            return delta
        }
    }

    /// Whether bindsnoop's own binds were last seen by every program.
    public enum SelfCheck: Sendable, Equatable {
        case passed
        case failed(programs: [String])
    }

    public var events = Counts()
    public var sinks: [(name: String, statistics: SinkStatistics)] = []
    public var selfCheck = SelfCheck.passed
    /// The most the ring buffer held unread when the reader looked, since the last sample.
    public var ringBufferHighWater: UInt64 = 0

    public init() {}
}

/// The in-band heartbeat: the counters since the previous one and since start.
public struct Heartbeat: Sendable {
    public var interval: Double
    public var uptime: Double
    public var probe: ProbeMode
    public var now: Telemetry
    public var sincePrevious: Telemetry.Counts

    public init(interval: Double, uptime: Double, probe: ProbeMode, now: Telemetry, previous: Telemetry.Counts) {
        self.interval = interval
        self.uptime = uptime
        self.probe = probe
        self.now = now
        sincePrevious = now.events.since(previous)
    }
}
