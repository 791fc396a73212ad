#if canImport(Glibc)
import Glibc
#endif

/// What the ring-buffer callback touches for every event: the encoders, the
/// output buffer and its line index, the counts. A noncopyable struct that
/// the callback reaches through one pointer, so its fields are updated
/// without the run-time exclusivity checks that a class's stored properties
/// get on each access (a tenth of the reader's CPU per event when these were
/// TraceSession's own).
struct EventBatch: ~Copyable {
    var json: EventEncoder
    /// Set for `--format table`; JSON otherwise.
    var table: TableEncoder?
    /// `--count`: tallies instead of a line per bind.
    var counter: BindCounter?
    let limits: SessionLimits
    var buffer = OutputBuffer(capacity: 1 << 20)
    var lineEnds: [Int] = []
    var lineSequences: [UInt64] = []
    var sequence: UInt64 = 0
    var eventsWritten: UInt64 = 0
    var malformed: UInt64 = 0

    /// A sample callback's answer that stops libbpf at once (`maxEvents`).
    static let stopConsuming: Int32 = -ECANCELED
    /// A sample callback's answer once `batchBytes` are encoded: libbpf has
    /// consumed that sample and stops; the session writes the batch and goes on.
    static let batchFull: Int32 = -EAGAIN
    static let batchBytes = 256 << 10

    init(json: EventEncoder, table: TableEncoder?, counter: BindCounter?, limits: SessionLimits) {
        self.json = json
        self.table = table
        self.counter = counter
        self.limits = limits
    }

    var reachedMaxEvents: Bool {
        if let max = limits.maxEvents { eventsWritten >= max } else { false }
    }

    mutating func handle(_ sample: UnsafeRawBufferPointer) -> Int32 {
        if reachedMaxEvents { return Self.stopConsuming }
        guard let record = BindRecord(bytes: sample) else {
            malformed += 1
            return 0
        }
        eventsWritten += 1
        if counter != nil {
            counter!.add(record)
            return reachedMaxEvents ? Self.stopConsuming : 0
        }
        sequence += 1
        if table != nil {
            table!.encode(record, into: &buffer)
        } else {
            json.encode(record, sequence: sequence, into: &buffer)
        }
        endLine(sequence)
        if reachedMaxEvents { return Self.stopConsuming }
        return buffer.count >= Self.batchBytes ? Self.batchFull : 0
    }

    /// Marks the end of the line just encoded (sequence 0: no event's).
    mutating func endLine(_ sequence: UInt64) {
        lineEnds.append(buffer.count)
        lineSequences.append(sequence)
    }

    mutating func encodeCounts(_ counter: BindCounter) {
        let counts = counter.sorted
        if table != nil {
            table!.encodeCounts(counts, into: &buffer)
            endLine(0)
            return
        }
        let now = realtimeNanoseconds()
        for (key, tally) in counts {
            sequence += 1
            json.encodeCount(key, tally, unixNanoseconds: now, sequence: sequence, into: &buffer)
            endLine(sequence)
        }
    }

    /// The in-band record of events the kernel could not deliver (JSON only).
    mutating func encodeKernelLoss(lost: UInt64, total: UInt64) {
        guard table == nil else { return }
        sequence += 1
        json.encodeLoss(source: "kernel", lost: lost, total: total, unixNanoseconds: realtimeNanoseconds(),
                        sequence: sequence, into: &buffer)
        endLine(sequence)
    }

    mutating func removeAll() {
        buffer.removeAll()
        lineEnds.removeAll(keepingCapacity: true)
        lineSequences.removeAll(keepingCapacity: true)
    }
}
