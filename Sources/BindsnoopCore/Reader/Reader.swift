import Glibc

/// The ring buffer's consumer: each sample is decoded, enriched and encoded
/// into the line buffer (or counted), and the session hands the lines to the
/// sinks a batch at a time. A noncopyable struct that the ring-buffer
/// callback reaches through one pointer, so its fields are updated without
/// the run-time exclusivity checks a class's stored properties get on every
/// access.
public struct Reader: ~Copyable {
    /// What a bind becomes: a JSON line, a table row, or a tally printed at the end.
    public enum Mode: Sendable, Equatable {
        case json, table, count(OutputFormat)
    }

    private let mode: Mode
    private let limits: SessionLimits
    private var enrichment: Enrichment
    private var clock = WallClock.current()
    // One encoder per mode; only the mode's own is used (an enum payload
    // would be copied out and back on every event).
    private var events: EventEncoder
    private let table: TableEncoder
    private let metrics: MetricEncoder
    private var counter = BindCounter()
    private var lines = LineBuffer()
    private var sequence: UInt64 = 0
    /// Records decoded (in `--count` mode: counted, not written).
    public private(set) var eventsRead: UInt64 = 0
    /// Samples that were neither a bind record nor a process's identity.
    public private(set) var malformed: UInt64 = 0
    /// `--rate-limit`: nil when off.
    private var rateLimiter: RateLimiter?
    /// Events the rate limit counted instead of writing.
    public var rateLimited: UInt64 { rateLimiter?.total ?? 0 }
    /// Sockets whose bind line the rate limit held back: their release is
    /// held back too, so that a consumer never sees a release without its
    /// bind. Bounded: past it, such a release is written (a release of a
    /// socket it never saw bound is harmless to a consumer).
    private var heldBackSockets = Set<UInt64>()
    static let heldBackSocketsLimit = 65_536

    /// A sample callback's answer that stops libbpf at once (`maxEvents`).
    public static let stopConsuming: Int32 = -ECANCELED
    /// A sample callback's answer once `batchBytes` are encoded: libbpf has
    /// consumed that sample and stops; the session writes the batch and goes on.
    public static let batchFull: Int32 = -EAGAIN
    static let batchBytes = 256 << 10

    public init(mode: Mode, table: TableEncoder = TableEncoder(), enrichment: Enrichment, limits: SessionLimits = SessionLimits(),
                rateLimit: UInt32? = nil) {
        self.mode = mode
        rateLimiter = rateLimit.map(RateLimiter.init(limit:))
        self.limits = limits
        self.table = table
        self.enrichment = enrichment
        events = EventEncoder(host: enrichment.host)
        metrics = MetricEncoder(host: enrichment.host)
    }

    public var reachedMaxEvents: Bool {
        if let max = limits.maxEvents { eventsRead >= max } else { false }
    }

    /// Lines encoded and not yet handed to the sinks.
    public var hasLines: Bool { !lines.isEmpty }

    /// One ring-buffer sample; the answer is the callback's (0: go on).
    public mutating func handle(_ sample: UnsafeRawBufferPointer) -> Int32 {
        if reachedMaxEvents { return Self.stopConsuming }
        guard let record = BindRecord(bytes: sample) else {
            if let release = ReleaseRecord(bytes: sample) { return handle(release) }
            if !enrichment.processes.store(record: sample) { malformed += 1 }
            return 0
        }
        eventsRead += 1
        if rateLimiter?.admit(pid: record.raw.pid, at: record.raw.boot_ns, name: { record.withProcessName { Array($0) } }) == false {
            if record.succeeded, record.raw.socket_inode != 0, heldBackSockets.count < Self.heldBackSocketsLimit {
                heldBackSockets.insert(record.raw.socket_inode)
            }
            return 0
        }
        switch mode {
        case .json:
            sequence += 1
            events.encode(record, at: clock.unixNanoseconds(bootNanoseconds: record.raw.boot_ns), sequence: sequence,
                          enrichment: &enrichment, into: &lines.bytes)
            lines.endLine(sequence)
        case .table:
            sequence += 1
            table.encode(record, at: clock.unixNanoseconds(bootNanoseconds: record.raw.boot_ns), into: &lines.bytes)
            lines.endLine(sequence)
        case .count:
            counter.add(record)
            return reachedMaxEvents ? Self.stopConsuming : 0
        }
        if reachedMaxEvents { return Self.stopConsuming }
        return lines.byteCount >= Self.batchBytes ? Self.batchFull : 0
    }

    /// A release (JSON only: the release hook runs only then). Written
    /// exactly when its bind line was: the rate limit counts binds, and
    /// holds back the release of each bind it held back.
    private mutating func handle(_ release: ReleaseRecord) -> Int32 {
        eventsRead += 1
        guard mode == .json else { return 0 }
        if !heldBackSockets.isEmpty, heldBackSockets.remove(release.raw.event.socket_inode) != nil { return 0 }
        sequence += 1
        events.encodeRelease(release, at: clock.unixNanoseconds(bootNanoseconds: release.raw.released_ns),
                             reportedAt: clock.unixNanoseconds(bootNanoseconds: release.raw.event.boot_ns), sequence: sequence,
                             enrichment: &enrichment, into: &lines.bytes)
        lines.endLine(sequence)
        if reachedMaxEvents { return Self.stopConsuming }
        return lines.byteCount >= Self.batchBytes ? Self.batchFull : 0
    }

    /// Before the first event: the table's header, as a line of its own.
    public mutating func begin() {
        guard mode == .table else { return }
        table.header(into: &lines.bytes)
        lines.endLine(0)
    }

    /// Before each read of the ring buffer: follow a stepped wall clock.
    public mutating func resynchronizeClock() {
        clock.resynchronize()
    }

    /// About once a second: enrichment answers that may have changed are
    /// looked up again.
    public mutating func refresh() {
        enrichment.refresh()
        events.forgetFragments()
    }

    /// The in-band record of events the kernel could not deliver (JSON only:
    /// a table has no place for it; the session logs it as well).
    public mutating func recordKernelLoss(lost: UInt64, total: UInt64) {
        guard mode == .json else { return }
        sequence += 1
        metrics.encodeLoss(source: "kernel", lost: lost, total: total, unixNanoseconds: realtimeNanoseconds(),
                           sequence: sequence, into: &lines.bytes)
        lines.endLine(sequence)
    }

    /// The in-band record of reported sockets whose release will not be
    /// reported: the kernel's table of them was full (`release.max_sockets`).
    public mutating func recordUntrackedSockets(_ count: UInt64, total: UInt64) {
        guard mode == .json else { return }
        sequence += 1
        metrics.encodeLoss(source: "release", reason: "the table of reported sockets is full: raise release.max_sockets",
                           lost: count, total: total, unixNanoseconds: realtimeNanoseconds(), sequence: sequence, into: &lines.bytes)
        lines.endLine(sequence)
    }

    /// Once a second: one record per process the rate limit held back
    /// (JSON only; `--rate-limit` is refused with a table).
    public mutating func recordRateLimits() {
        guard mode == .json, let limit = rateLimiter?.limit else { return }
        guard let suppressed = rateLimiter?.takeSuppressed(now: bootNanoseconds()), !suppressed.isEmpty else { return }
        let now = realtimeNanoseconds()
        for process in suppressed {
            sequence += 1
            metrics.encodeRateLimited(pid: process.pid, name: process.name, suppressed: process.count, limit: limit,
                                      unixNanoseconds: now, sequence: sequence, into: &lines.bytes)
            lines.endLine(sequence)
        }
    }

    /// Lines of the inventory at start (JSON only), stamped when the iterator read them.
    public mutating func recordInventory(_ sockets: ArraySlice<InventorySocket>) {
        guard mode == .json else { return }
        for socket in sockets {
            sequence += 1
            events.encodeInventory(socket, at: clock.unixNanoseconds(bootNanoseconds: socket.record.raw.boot_ns),
                                   sequence: sequence, enrichment: &enrichment, into: &lines.bytes)
            lines.endLine(sequence)
        }
    }

    /// The in-band heartbeat (JSON only).
    public mutating func recordHeartbeat(_ heartbeat: Heartbeat) {
        guard mode == .json else { return }
        sequence += 1
        metrics.encodeHeartbeat(heartbeat, unixNanoseconds: realtimeNanoseconds(), sequence: sequence, into: &lines.bytes)
        lines.endLine(sequence)
    }

    /// At the end of the run: `--count`'s tallies.
    public mutating func finish() {
        guard case .count(let format) = mode else { return }
        let counts = counter.sorted
        if format == .table {
            table.encodeCounts(counts, into: &lines.bytes)
            lines.endLine(0)
            return
        }
        let now = realtimeNanoseconds()
        for (key, tally) in counts {
            sequence += 1
            metrics.encodeCount(key, tally, unixNanoseconds: now, sequence: sequence, into: &lines.bytes)
            lines.endLine(sequence)
        }
    }

    /// Hands the lines encoded so far to `deliver`, then forgets them.
    public mutating func drain<E: Error>(_ deliver: (LineBatch) throws(E) -> Void) throws(E) {
        guard !lines.isEmpty else { return }
        defer { lines.removeAll() }
        let failure: E? = lines.withBatch { batch in
            do throws(E) {
                try deliver(batch)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}
