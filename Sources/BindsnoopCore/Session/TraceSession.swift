import CBindsnoop
import Glibc
import Logging

/// What the loop does for operators beside delivering events.
public struct SessionOperations {
    /// An in-band heartbeat this often (nil: none).
    public var heartbeatInterval: Double?
    /// Where the counters are published once a second (`--metrics-address`).
    public var metrics: MetricsState?
    /// How often bindsnoop's own binds check that every hook is still live.
    public var selfCheckInterval = 10.0

    public init(heartbeatInterval: Double? = nil, metrics: MetricsState? = nil) {
        self.heartbeatInterval = heartbeatInterval
        self.metrics = metrics
    }
}

public enum StopReason: String, Sendable {
    case signal, maxEvents = "max-events", duration, readerGone = "reader-gone"
}

/// The event loop: ring buffer → `Reader` (decode, enrich, encode into one
/// reused buffer) → one write per batch to every sink. Runs on the calling
/// thread until a signal, a limit, or a closed reader ends it, then drains
/// and flushes.
public final class TraceSession {
    private let tracer: BPFTracer
    private var sinks: SinkSet
    private let limits: SessionLimits
    private let logger: Logger
    private var lostReported: UInt64 = 0
    private var untrackedReported: UInt64 = 0
    private var warnedUnreadableRequests = false
    /// Opened at init, while bindsnoop still has its privileges: before 6.5
    /// libbpf's bpf(2) calls on the map fd are refused once `--user` dropped them.
    private var ring: OpaquePointer!
    /// The reader `run` is feeding, for the ring's callback.
    private var reader: UnsafeMutablePointer<Reader>?
    private let operations: SessionOperations
    private let startedAt = monotonicSeconds()
    /// The last self-check's answer, and when the next is due.
    private var selfCheck = Telemetry.SelfCheck.passed
    private var nextSelfCheck: Double
    private var nextHeartbeat: Double?
    private var countsAtLastHeartbeat = Telemetry.Counts()
    /// The most the ring buffer held when the reader looked, since the last tick.
    private var ringHighWater: UInt64 = 0

    public init(tracer: BPFTracer, sinks: [Sink], limits: SessionLimits, operations: SessionOperations = SessionOperations(),
                logger: Logger) throws(TracerError) {
        self.tracer = tracer
        self.sinks = SinkSet(sinks, logger: logger)
        self.limits = limits
        self.logger = logger
        self.operations = operations
        nextSelfCheck = startedAt + operations.selfCheckInterval
        nextHeartbeat = operations.heartbeatInterval.map { startedAt + $0 }
        let onSample: ring_buffer_sample_fn = { context, data, size in
            let session = Unmanaged<TraceSession>.fromOpaque(context!).takeUnretainedValue()
            return session.reader?.pointee.handle(UnsafeRawBufferPointer(start: data, count: size)) ?? 0
        }
        guard let ring = ring_buffer__new(tracer.ringBufferMapFD, onSample, Unmanaged.passUnretained(self).toOpaque(), nil) else {
            throw .modeFailed(tracer.mode, stage: "opening the ring buffer", errno: errno)
        }
        self.ring = ring
    }

    deinit {
        ring_buffer__free(ring)
    }

    /// Reads events until stopped. `onReady` runs once everything is attached
    /// and the ring buffer is open.
    /// `inventory`: the sockets bound at start, written first.
    public func run(_ reader: consuming Reader, signals: SignalWatcher, inventory: [InventorySocket] = [],
                    onReady: () -> Void) throws(SinkError) {
        var reader = reader
        // The ring-buffer callback reaches the reader through this pointer,
        // which lives exactly as long as the ring.
        try withUnsafeMutablePointer(to: &reader) { (reader) throws(SinkError) in
            try run(reader, signals: signals, inventory: inventory, onReady: onReady)
        }
    }

    private func run(_ reader: UnsafeMutablePointer<Reader>, signals: SignalWatcher, inventory: [InventorySocket],
                     onReady: () -> Void) throws(SinkError) {
        self.reader = reader
        defer { self.reader = nil }
        // poll(2), not epoll: the set changes as sinks start and stop waiting
        // for their peers. The ring buffer's epoll fd is itself pollable.
        var waits = [pollfd(fd: ring_buffer__epoll_fd(ring), events: Int16(POLLIN), revents: 0),
                     pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]

        reader.pointee.begin()
        try flush(reader)
        operate(reader)  // the metrics exist from the first scrape on
        onReady()
        // Before the ring buffer's events (binds made since the hooks went
        // live), in batches as the ring buffer's backlog is.
        for start in stride(from: 0, to: inventory.count, by: Self.inventoryBatch) {
            reader.pointee.recordInventory(inventory[start..<min(start + Self.inventoryBatch, inventory.count)])
            try flush(reader)
        }

        let deadline = limits.duration.map { monotonicSeconds() + $0 }
        var nextTick = monotonicSeconds() + 1
        var reason: StopReason?
        var lastEventAt = -Double.infinity
        var lastSweep = monotonicSeconds()
        while reason == nil {
            let now = monotonicSeconds()
            var timeout = nextTick - now
            if let deadline { timeout = min(timeout, deadline - now) }
            // While events flow the kernel skips most wake-ups (see
            // BPFTracer.wakeupInterval): poll on our own timer instead.
            if now - lastEventAt < 4 * BPFTracer.wakeupInterval { timeout = min(timeout, BPFTracer.wakeupInterval) }
            let interests = sinks.interests
            if interests.contains(where: { $0 != .idle }) { timeout = min(timeout, 0.05) }
            waits.removeSubrange(2...)
            for case .writable(let fd) in interests { waits.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
            let ready = poll(&waits, nfds_t(waits.count), Int32(max(timeout, 0) * 1000) + 1)
            var reopen = false
            if ready > 0, waits[1].revents != 0 {
                let received = signals.drain()
                if received.contains(.stop) { reason = .signal }
                reopen = received.contains(.reopen)
            }
            let before = reader.pointee.eventsRead + reader.pointee.malformed
            if try consume(ring, reader) { reason = .maxEvents }
            if reason == nil, monotonicSeconds() - lastSweep >= Self.sweepInterval {
                if try sweepUnclaimed(reader, olderThan: Self.sweepInterval / 2) { reason = .maxEvents }
                lastSweep = monotonicSeconds()
            }
            if reader.pointee.eventsRead + reader.pointee.malformed != before { lastEventAt = monotonicSeconds() }
            let tick = monotonicSeconds() >= nextTick
            if tick {
                reportKernelLoss(reader)
                reader.pointee.recordRateLimits()
                reader.pointee.refresh()
                operate(reader)
                nextTick = monotonicSeconds() + 1
            }
            try flush(reader)
            try sinks.tick(reopen: reopen, all: tick)
            if sinks.isEmpty { reason = .readerGone }
            if let deadline, monotonicSeconds() >= deadline { reason = reason ?? .duration }
        }
        try finish(ring: ring, reader: reader, reason: reason!)
    }

    /// Drains what the kernel still holds, reports loss, flushes every sink.
    private func finish(ring: OpaquePointer, reader: UnsafeMutablePointer<Reader>, reason: StopReason) throws(SinkError) {
        if reason != .maxEvents {
            _ = try consume(ring, reader)
            _ = try sweepUnclaimed(reader, olderThan: 0)
        }
        reportKernelLoss(reader)
        reader.pointee.recordRateLimits()
        reader.pointee.finish()
        try flush(reader)
        try sinks.finish()
        // lost: in the kernel (every output missed them); dropped: lines an
        // output could not deliver (the others did), each output's own after it.
        let outputs = sinks.statistics
        logger.info("stopped", metadata: [
            "reason": "\(reason.rawValue)", "events": "\(reader.pointee.eventsRead)",
            "lost": "\(tracer.lostEvents())", "malformed": "\(reader.pointee.malformed)",
            "rate_limited": "\(reader.pointee.rateLimited)",
            "dropped": "\(outputs.reduce(0) { $0 + $1.statistics.lost })",
            "dropped_by_output": "\(outputs.map { "\($0.name):\($0.statistics.lost)" }.joined(separator: ","))",
        ])
    }

    /// Everything in the ring buffer now, written out every `Reader.batchBytes`
    /// so that a full ring buffer never becomes a giant output buffer;
    /// true once `maxEvents` is reached.
    private func consume(_ ring: OpaquePointer, _ reader: UnsafeMutablePointer<Reader>) throws(SinkError) -> Bool {
        reader.pointee.resynchronizeClock()
        ringHighWater = max(ringHighWater, tracer.ringBufferUnread())
        while true {
            let result = ring_buffer__consume(ring)
            if result == Reader.stopConsuming { return true }
            guard result == Reader.batchFull else { return false }
            try flush(reader)
        }
    }

    /// cgroup mode: how often the binds no post-bind hook claimed are looked
    /// for (while the loop runs; at least once a second when idle).
    static let sweepInterval = 0.1
    /// Inventory lines encoded between two flushes.
    static let inventoryBatch = 256

    /// cgroup mode: reports the binds that failed (requested, never bound);
    /// true once `maxEvents` is reached.
    private func sweepUnclaimed(_ reader: UnsafeMutablePointer<Reader>, olderThan age: Double) throws(SinkError) -> Bool {
        var stop = false
        var full = false
        let readable = tracer.takeUnclaimedRequests(olderThan: age) { record in
            guard !stop else { return }
            switch reader.pointee.handle(record) {
            case Reader.stopConsuming: stop = true
            case Reader.batchFull: full = true
            default: break
            }
        }
        if full { try flush(reader) }
        if !readable && !warnedUnreadableRequests {
            warnedUnreadableRequests = true
            logger.warning("cgroup mode: failed binds cannot be reported after dropping privileges on this kernel (before 6.5); run without --user to see them")
        }
        return stop
    }

    /// Once a second: the periodic self-check, the counters to the metrics
    /// endpoint, the heartbeat when due.
    private func operate(_ reader: UnsafeMutablePointer<Reader>) {
        let now = monotonicSeconds()
        if now >= nextSelfCheck {
            nextSelfCheck = now + operations.selfCheckInterval
            let missing = tracer.recheckLive()
            let checked: Telemetry.SelfCheck = missing.isEmpty ? .passed : .failed(programs: missing)
            if checked != selfCheck {
                if missing.isEmpty {
                    logger.info("self-check passes again: every kernel program sees binds")
                } else {
                    logger.error("self-check failed: bindsnoop's own binds were not seen by \(missing.joined(separator: ", ")); binds may go unreported (was the program detached?)")
                }
            }
            selfCheck = checked
        }
        let heartbeatDue = nextHeartbeat.map { now >= $0 } ?? false
        guard operations.metrics != nil || heartbeatDue else { return }
        var telemetry = Telemetry()
        telemetry.events.read = reader.pointee.eventsRead
        telemetry.events.lost = tracer.lostEvents()
        telemetry.events.rateLimited = reader.pointee.rateLimited
        telemetry.events.malformed = reader.pointee.malformed
        telemetry.sinks = sinks.statistics
        telemetry.selfCheck = selfCheck
        telemetry.ringBufferHighWater = ringHighWater
        ringHighWater = 0
        operations.metrics?.publish(telemetry)
        if heartbeatDue, let interval = operations.heartbeatInterval {
            reader.pointee.recordHeartbeat(Heartbeat(interval: interval, uptime: now - startedAt, probe: tracer.mode,
                                                     now: telemetry, previous: countsAtLastHeartbeat))
            countsAtLastHeartbeat = telemetry.events
            nextHeartbeat = now + interval
        }
    }

    private func reportKernelLoss(_ reader: UnsafeMutablePointer<Reader>) {
        let untracked = tracer.untrackedSockets()
        if untracked > untrackedReported {
            logger.warning("release lines lost: the table of reported sockets is full (raise release.max_sockets)", metadata: [
                "sockets": "\(untracked - untrackedReported)", "total": "\(untracked)",
            ])
            reader.pointee.recordUntrackedSockets(untracked - untrackedReported, total: untracked)
            untrackedReported = untracked
        }
        let total = tracer.lostEvents()
        guard total > lostReported else { return }
        let lost = total - lostReported
        lostReported = total
        logger.warning("events lost in the kernel: the ring buffer was full", metadata: [
            "lost": "\(lost)", "total": "\(total)",
        ])
        reader.pointee.recordKernelLoss(lost: lost, total: total)
    }

    /// One write per sink for everything encoded since the last flush.
    private func flush(_ reader: UnsafeMutablePointer<Reader>) throws(SinkError) {
        try reader.pointee.drain { lines throws(SinkError) in try sinks.write(lines) }
    }
}
