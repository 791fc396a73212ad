import CBindsnoop
import Logging

#if canImport(Glibc)
import Glibc
#endif

public enum OutputFormat: String, CaseIterable, Sendable {
    case json, table
}

public struct SessionLimits: Sendable, Equatable {
    public var maxEvents: UInt64?
    public var duration: Double?

    public init(maxEvents: UInt64? = nil, duration: Double? = nil) {
        self.maxEvents = maxEvents
        self.duration = duration
    }
}

public struct SessionSummary: Sendable, Equatable {
    public var eventsWritten: UInt64
    public var eventsLostInKernel: UInt64
    public var malformedRecords: UInt64
    public var stopReason: StopReason
}

public enum StopReason: String, Sendable {
    case signal, maxEvents = "max-events", duration, readerGone = "reader-gone"
}

/// The event path: ring buffer → decode → encode into one reused buffer →
/// one write per batch to every sink. Runs on the calling thread until a
/// signal, a limit, or a closed reader ends it, then drains and flushes.
public final class TraceSession {
    private let tracer: BPFTracer
    private var sinks: [Sink]
    private let limits: SessionLimits
    private let logger: Logger
    /// The per-event state, which the ring-buffer callback reaches directly.
    private let batch: UnsafeMutablePointer<EventBatch>
    private var lostReported: UInt64 = 0

    public init(tracer: BPFTracer, json: EventEncoder, table: TableEncoder?, sinks: [Sink], limits: SessionLimits,
                count: Bool = false, logger: Logger) {
        self.tracer = tracer
        self.sinks = sinks
        self.limits = limits
        self.logger = logger
        batch = .allocate(capacity: 1)
        batch.initialize(to: EventBatch(json: json, table: table, counter: count ? BindCounter() : nil, limits: limits))
    }

    deinit {
        batch.deinitialize(count: 1)
        batch.deallocate()
    }

    /// Reads events until stopped. `onReady` runs once everything is attached
    /// and the ring buffer is open.
    public func run(signals: SignalWatcher, onReady: () -> Void) throws(SinkError) -> SessionSummary {
        let onSample: ring_buffer_sample_fn = { context, data, size in
            context!.assumingMemoryBound(to: EventBatch.self).pointee.handle(UnsafeRawBufferPointer(start: data, count: size))
        }
        guard let ring = ring_buffer__new(tracer.ringBufferMapFD, onSample, UnsafeMutableRawPointer(batch), nil) else {
            throw .failed(sink: "ring buffer", errno: errno)
        }
        defer { ring_buffer__free(ring) }
        // poll(2), not epoll: the set changes as sinks start and stop waiting
        // for their peers. The ring buffer's epoll fd is itself pollable.
        var waits = [pollfd(fd: ring_buffer__epoll_fd(ring), events: Int16(POLLIN), revents: 0),
                     pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]

        if batch.pointee.table != nil, batch.pointee.counter == nil {
            batch.pointee.table!.header(into: &batch.pointee.buffer)
            try flushBuffer()
        }
        onReady()

        let deadline = limits.duration.map { monotonicSeconds() + $0 }
        var nextHousekeeping = monotonicSeconds() + 1
        var reason: StopReason?
        var lastEventAt = -Double.infinity
        while reason == nil {
            let now = monotonicSeconds()
            var timeout = nextHousekeeping - now
            if let deadline { timeout = min(timeout, deadline - now) }
            // While events flow the kernel skips most wake-ups (see
            // BPFTracer.wakeupInterval): poll on our own timer instead.
            if now - lastEventAt < 4 * BPFTracer.wakeupInterval { timeout = min(timeout, BPFTracer.wakeupInterval) }
            if sinks.contains(where: \.hasPending) { timeout = min(timeout, 0.05) }
            waits.removeSubrange(2...)
            for sink in sinks {
                if let fd = sink.writableWaitDescriptor { waits.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
            }
            let ready = poll(&waits, nfds_t(waits.count), Int32(max(timeout, 0) * 1000) + 1)
            var reopen = false
            if ready > 0, waits[1].revents != 0 {
                let received = signals.drain()
                if received.contains(.stop) { reason = .signal }
                reopen = received.contains(.reopen)
            }
            let before = batch.pointee.eventsWritten + batch.pointee.malformed
            if try consume(ring) { reason = .maxEvents }
            if batch.pointee.eventsWritten + batch.pointee.malformed != before { lastEventAt = monotonicSeconds() }
            let housekeeping = monotonicSeconds() >= nextHousekeeping
            if housekeeping {
                reportKernelLoss()
                refreshCaches()
                nextHousekeeping = monotonicSeconds() + 1
            }
            try flushBuffer()
            try forEachSink { sink throws(SinkError) in
                if reopen { try sink.reopen() }
                if housekeeping || sink.hasPending { try sink.housekeeping() }
            }
            if sinks.isEmpty { reason = .readerGone }
            if let deadline, monotonicSeconds() >= deadline { reason = reason ?? .duration }
        }
        return try finish(ring: ring, reason: reason!)
    }

    /// Drains what the kernel still holds, reports loss, flushes every sink.
    private func finish(ring: OpaquePointer, reason: StopReason) throws(SinkError) -> SessionSummary {
        if reason != .maxEvents { _ = try consume(ring) }
        reportKernelLoss()
        if let counter = batch.pointee.counter { batch.pointee.encodeCounts(counter) }
        try flushBuffer()
        try forEachSink { sink throws(SinkError) in try sink.flush() }
        for sink in sinks { sink.close() }
        let summary = SessionSummary(eventsWritten: batch.pointee.eventsWritten, eventsLostInKernel: tracer.lostEvents(),
                                     malformedRecords: batch.pointee.malformed, stopReason: reason)
        logger.info("stopped", metadata: [
            "reason": "\(reason.rawValue)", "events": "\(summary.eventsWritten)",
            "lost": "\(summary.eventsLostInKernel)", "malformed": "\(summary.malformedRecords)",
        ])
        return summary
    }

    /// Everything in the ring buffer now, written out every `EventBatch.batchBytes`
    /// so that a full ring buffer never becomes a giant output buffer;
    /// true once `maxEvents` is reached.
    private func consume(_ ring: OpaquePointer) throws(SinkError) -> Bool {
        resynchronizeClock()
        while true {
            let result = ring_buffer__consume(ring)
            if result == EventBatch.stopConsuming { return true }
            guard result == EventBatch.batchFull else { return false }
            try flushBuffer()
        }
    }

    private func reportKernelLoss() {
        let total = tracer.lostEvents()
        guard total > lostReported else { return }
        let lost = total - lostReported
        lostReported = total
        logger.warning("events lost in the kernel: the ring buffer was full", metadata: [
            "lost": "\(lost)", "total": "\(total)",
        ])
        batch.pointee.encodeKernelLoss(lost: lost, total: total)
    }

    private func refreshCaches() {
        batch.pointee.json.interfaces.forget()
        batch.pointee.json.containers.forget()
    }

    private func resynchronizeClock() {
        batch.pointee.json.clock.resynchronize()
        batch.pointee.table?.clock.resynchronize()
    }

    /// One write per sink for everything encoded since the last flush.
    private func flushBuffer() throws(SinkError) {
        guard !batch.pointee.buffer.isEmpty else { return }
        defer { batch.pointee.removeAll() }
        let failure: SinkError? = batch.pointee.buffer.withUnsafeBytes { bytes in
            let lines = LineBatch(bytes: bytes, lineEnds: batch.pointee.lineEnds, sequences: batch.pointee.lineSequences)
            do throws(SinkError) {
                try forEachSink { sink throws(SinkError) in try sink.write(lines) }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Runs `body` on every sink; a sink whose reader went away is closed and
    /// dropped (the others go on), any other failure ends the run.
    private func forEachSink(_ body: (Sink) throws(SinkError) -> Void) throws(SinkError) {
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

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func realtimeNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
