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
    private var json: EventEncoder
    /// Set for `--format table`; JSON otherwise.
    private var table: TableEncoder?
    private var sinks: [Sink]
    private let limits: SessionLimits
    /// `--count`: tallies instead of a line per bind.
    private var counter: BindCounter?
    private let logger: Logger
    private var buffer = OutputBuffer(capacity: 1 << 20)
    private var lineEnds: [Int] = []
    private var lineSequences: [UInt64] = []
    private var sequence: UInt64 = 0
    private var eventsWritten: UInt64 = 0
    private var malformed: UInt64 = 0
    private var lostReported: UInt64 = 0

    public init(tracer: BPFTracer, json: EventEncoder, table: TableEncoder?, sinks: [Sink], limits: SessionLimits,
                count: Bool = false, logger: Logger) {
        self.counter = count ? BindCounter() : nil
        self.tracer = tracer
        self.json = json
        self.table = table
        self.sinks = sinks
        self.limits = limits
        self.logger = logger
    }

    /// Reads events until stopped. `onReady` runs once everything is attached
    /// and the ring buffer is open.
    public func run(signals: SignalWatcher, onReady: () -> Void) throws(SinkError) -> SessionSummary {
        let onSample: ring_buffer_sample_fn = { context, data, size in
            let session = Unmanaged<TraceSession>.fromOpaque(context!).takeUnretainedValue()
            return session.handle(UnsafeRawBufferPointer(start: data, count: size))
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let ring = ring_buffer__new(tracer.ringBufferMapFD, onSample, context, nil) else {
            throw .failed(sink: "ring buffer", errno: errno)
        }
        defer { ring_buffer__free(ring) }
        // poll(2), not epoll: the set changes as sinks start and stop waiting
        // for their peers. The ring buffer's epoll fd is itself pollable.
        var waits = [pollfd(fd: ring_buffer__epoll_fd(ring), events: Int16(POLLIN), revents: 0),
                     pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]

        if let table, counter == nil {
            table.header(into: &buffer)
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
            let before = eventsWritten + malformed
            if try consume(ring) { reason = .maxEvents }
            if eventsWritten + malformed != before { lastEventAt = monotonicSeconds() }
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
        if let counter { encodeCounts(counter) }
        try flushBuffer()
        try forEachSink { sink throws(SinkError) in try sink.flush() }
        for sink in sinks { sink.close() }
        let summary = SessionSummary(eventsWritten: eventsWritten, eventsLostInKernel: tracer.lostEvents(),
                                     malformedRecords: malformed, stopReason: reason)
        logger.info("stopped", metadata: [
            "reason": "\(reason.rawValue)", "events": "\(summary.eventsWritten)",
            "lost": "\(summary.eventsLostInKernel)", "malformed": "\(summary.malformedRecords)",
        ])
        return summary
    }

    /// Everything in the ring buffer now, written out every `batchBytes`
    /// so that a full ring buffer never becomes a giant output buffer;
    /// true once `maxEvents` is reached.
    private func consume(_ ring: OpaquePointer) throws(SinkError) -> Bool {
        resynchronizeClock()
        while true {
            let result = ring_buffer__consume(ring)
            if result == stopConsuming { return true }
            guard result == batchFull else { return false }
            try flushBuffer()
        }
    }

    private let stopConsuming: Int32 = -ECANCELED
    /// A sample callback's answer once `batchBytes` are encoded: libbpf has
    /// consumed that sample and stops; `consume` writes the batch and goes on.
    private let batchFull: Int32 = -EAGAIN
    static let batchBytes = 256 << 10

    private func handle(_ sample: UnsafeRawBufferPointer) -> Int32 {
        if let max = limits.maxEvents, eventsWritten >= max { return stopConsuming }
        guard let record = BindRecord(bytes: sample) else {
            malformed += 1
            return 0
        }
        eventsWritten += 1
        if counter != nil {
            counter!.add(record)
            if let max = limits.maxEvents, eventsWritten >= max { return stopConsuming }
            return 0
        }
        sequence += 1
        if let table {
            table.encode(record, into: &buffer)
        } else {
            json.encode(record, sequence: sequence, into: &buffer)
        }
        lineEnds.append(buffer.count)
        lineSequences.append(sequence)
        if let max = limits.maxEvents, eventsWritten >= max { return stopConsuming }
        return buffer.count >= Self.batchBytes ? batchFull : 0
    }

    private func encodeCounts(_ counter: BindCounter) {
        let counts = counter.sorted
        if let table {
            table.encodeCounts(counts, into: &buffer)
            lineEnds.append(buffer.count)
            lineSequences.append(0)
            return
        }
        let now = realtimeNanoseconds()
        for (key, tally) in counts {
            sequence += 1
            json.encodeCount(key, tally, unixNanoseconds: now, sequence: sequence, into: &buffer)
            lineEnds.append(buffer.count)
            lineSequences.append(sequence)
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
        guard table == nil else { return }
        sequence += 1
        json.encodeLoss(source: "kernel", lost: lost, total: total, unixNanoseconds: realtimeNanoseconds(),
                        sequence: sequence, into: &buffer)
        lineEnds.append(buffer.count)
        lineSequences.append(sequence)
    }

    private func refreshCaches() {
        json.interfaces.forget()
        json.containers.forget()
    }

    private func resynchronizeClock() {
        json.clock.resynchronize()
        table?.clock.resynchronize()
    }

    /// One write per sink for everything encoded since the last flush.
    private func flushBuffer() throws(SinkError) {
        guard !buffer.isEmpty else { return }
        defer {
            buffer.removeAll()
            lineEnds.removeAll(keepingCapacity: true)
            lineSequences.removeAll(keepingCapacity: true)
        }
        let failure: SinkError? = buffer.withUnsafeBytes { bytes in
            let batch = LineBatch(bytes: bytes, lineEnds: lineEnds, sequences: lineSequences)
            do throws(SinkError) {
                try forEachSink { sink throws(SinkError) in try sink.write(batch) }
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
