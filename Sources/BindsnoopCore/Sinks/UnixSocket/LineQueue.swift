/// Events a sink had to drop and has not reported yet: how many, and the
/// first and last `event.sequence` among them (events in between may have
/// been delivered; the count is exact).
struct LossTally: Equatable {
    var count: UInt64 = 0
    var range: ClosedRange<UInt64>?

    var isEmpty: Bool { count == 0 }

    mutating func add(sequence: UInt64) {
        count += 1
        guard sequence > 0 else { return }
        range = range.map { min($0.lowerBound, sequence)...max($0.upperBound, sequence) } ?? sequence...sequence
    }

    mutating func merge(_ other: LossTally) {
        count += other.count
        if let other = other.range {
            range = range.map { min($0.lowerBound, other.lowerBound)...max($0.upperBound, other.upperBound) } ?? other
        }
    }
}

/// What a queued line is: an event (its `event.sequence`, 0 if it has none)
/// or a sink's own loss record, with the tally it reports.
enum QueuedLine: Equatable {
    case event(sequence: UInt64)
    case lossReport(LossTally)
}

/// Lines not yet known to be read by the forwarder, oldest first. After a
/// send, the socket's send queue (SIOCOUTQ) tells how many of the bytes
/// sent the peer has not read yet (counted with the kernel's per-buffer
/// overhead: never less than what is really unread). The lines sent whole
/// before those bytes are out of the queue: read, or discarded by a peer
/// that died. They are acknowledged (forgotten) once the peer is known to
/// have been alive after that: a stream peer showing no hang-up (the kernel
/// marks the hang-up before it discards what the peer had not read), or a
/// later send that succeeded. If the connection breaks first, every line
/// not acknowledged is sent again, whole. Delivery is at least once;
/// `event.sequence` tells duplicates apart.
struct LineQueue {
    private var storage: [UInt8] = []
    private var ends: [Int] = []         // end offsets in storage
    private var kinds: [QueuedLine] = []
    private var acknowledged = 0         // first line not known to be read
    private var confirmed = 0            // lines before this were out of the send queue at the last check (read or discarded)
    private var sendLine = 0             // line holding the next byte to send
    private var cursor = 0               // next byte to send

    /// Nothing unsent and nothing unacknowledged.
    var isEmpty: Bool { acknowledged == ends.count }
    var hasUnsent: Bool { cursor < storage.count }
    var count: Int { ends.count - acknowledged }
    var byteCount: UInt64 { UInt64(storage.count - start(of: acknowledged)) }

    private func start(of line: Int) -> Int { line == 0 ? 0 : ends[line - 1] }

    mutating func append(_ line: UnsafeRawBufferPointer, as kind: QueuedLine) {
        storage.append(contentsOf: line)
        ends.append(storage.count)
        kinds.append(kind)
    }

    func withUnsentBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[cursor...])) }
    }

    /// The next unsent line without its newline (datagram mode: cursor is at a line start).
    func withNextLineWithoutNewline<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[cursor..<(ends[sendLine] - 1)])) }
    }

    /// Returns the lines whose last byte this send carried.
    @discardableResult
    mutating func sent(bytes: Int) -> Int {
        cursor += bytes
        let first = sendLine
        while sendLine < ends.count && ends[sendLine] <= cursor { sendLine += 1 }
        return sendLine - first
    }

    mutating func sentLine() {
        sent(bytes: ends[sendLine] - cursor)
    }

    /// The peer has not read the last `unread` bytes sent: the lines sent
    /// whole before them left the send queue. `peerAlive`: the peer is known
    /// to have been alive after the measurement, so they were read.
    mutating func peerHasNotRead(_ unread: Int, peerAlive: Bool) {
        let readUpTo = cursor - max(unread, 0)
        var line = max(confirmed, acknowledged)
        while line < sendLine && ends[line] <= readUpTo { line += 1 }
        confirmed = line
        if peerAlive { acknowledgeConfirmed() }
    }

    /// A send succeeded, so the peer was alive after the last measurement:
    /// the lines that had left the send queue were read.
    mutating func acknowledgeConfirmed() {
        guard confirmed > acknowledged else { return }
        acknowledged = confirmed
        compactIfWorthIt()
    }

    /// The connection broke: send again everything not acknowledged, from a line start.
    mutating func rewind() {
        sendLine = acknowledged
        confirmed = acknowledged
        cursor = start(of: acknowledged)
    }

    /// What is not acknowledged: the events (how many, their sequence
    /// range), and the drops that the loss records among them report.
    var unacknowledged: (events: LossTally, drops: LossTally) {
        var events = LossTally()
        var drops = LossTally()
        for kind in kinds[acknowledged...] {
            switch kind {
            case .event(let sequence): events.add(sequence: sequence)
            case .lossReport(let tally): drops.merge(tally)
            }
        }
        return (events, drops)
    }

    private mutating func compactIfWorthIt() {
        if isEmpty {
            storage.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            kinds.removeAll(keepingCapacity: true)
            (acknowledged, confirmed, sendLine, cursor) = (0, 0, 0, 0)
        } else if acknowledged > 1024 && acknowledged * 2 > ends.count {
            let offset = start(of: acknowledged)
            storage.removeFirst(offset)
            ends = ends[acknowledged...].map { $0 - offset }
            kinds.removeFirst(acknowledged)
            sendLine -= acknowledged
            confirmed -= acknowledged
            cursor -= offset
            acknowledged = 0
        }
    }
}
