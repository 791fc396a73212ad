@testable import BindsnoopCore
import Testing

/// The Unix-socket sink's buffer: whole lines, resent after a broken
/// connection, and what is still unacknowledged at the end counted once.
struct LineQueueTests {
    private func queue(_ lines: [String]) -> LineQueue {
        var queue = LineQueue()
        for (i, line) in lines.enumerated() {
            Array(line.utf8).withUnsafeBytes { queue.append($0, as: .event(sequence: UInt64(i + 1))) }
        }
        return queue
    }

    private func unsent(_ queue: LineQueue) -> String {
        queue.withUnsentBytes { String(decoding: $0, as: UTF8.self) }
    }

    @Test func resendsUnreadWholeLines() {
        var queue = queue(["a1\n", "b22\n", "c333\n"])
        queue.sent(bytes: 5)  // "a1\n" and "b2"
        queue.peerHasNotRead(0, peerAlive: false)  // read, or discarded by a dying peer: not yet known
        queue.rewind()  // the connection broke: all of it goes again
        #expect(queue.count == 3)
        #expect(unsent(queue) == "a1\nb22\nc333\n")
        queue.sent(bytes: 5)
        queue.peerHasNotRead(0, peerAlive: false)
        queue.sent(bytes: 1)
        queue.acknowledgeConfirmed()  // a later send succeeded: a1 was read
        queue.rewind()
        #expect(unsent(queue) == "b22\nc333\n")
        #expect(queue.count == 2)
    }

    /// SIOCOUTQ: only the lines wholly before the unread bytes count as read,
    /// and a live peer's reads are forgotten at once.
    @Test func forgetsWhatThePeerRead() {
        var queue = queue(["a1\n", "b22\n", "c333\n", "d4444\n"])  // ends at 3, 7, 12, 18
        queue.sent(bytes: 18)
        queue.peerHasNotRead(12, peerAlive: true)  // read 6 bytes: a1 whole, b22 in part
        #expect(queue.count == 3)
        queue.peerHasNotRead(11, peerAlive: true)  // 7 read: b22 too
        #expect(queue.count == 2)
        queue.peerHasNotRead(30, peerAlive: true)  // overhead beyond what was sent: nothing more, nothing undone
        #expect(queue.count == 2)
        queue.rewind()
        #expect(unsent(queue) == "c333\nd4444\n")
        #expect(queue.unacknowledged.events == LossTally(count: 2, range: 3...4))
        queue.sent(bytes: 11)
        queue.peerHasNotRead(0, peerAlive: false)  // a datagram peer: known read only after a later send
        #expect(queue.count == 2)
        queue.acknowledgeConfirmed()
        #expect(queue.isEmpty)
    }

    /// At shutdown: the events not known read, and apart from them the drops
    /// whose record is not known read (never the same event twice).
    @Test func unacknowledgedSeparatesEventsFromUnreportedDrops() {
        var queue = queue(["a1\n", "b22\n"])
        Array("L\n".utf8).withUnsafeBytes { queue.append($0, as: .lossReport(LossTally(count: 4, range: 3...9))) }
        Array("e5\n".utf8).withUnsafeBytes { queue.append($0, as: .event(sequence: 10)) }
        queue.sent(bytes: 3)
        queue.peerHasNotRead(0, peerAlive: true)  // a1 read
        let (events, drops) = queue.unacknowledged
        #expect(events == LossTally(count: 2, range: 2...10))
        #expect(drops == LossTally(count: 4, range: 3...9))
        queue.sentLine()
        queue.sentLine()
        queue.sentLine()
        queue.peerHasNotRead(0, peerAlive: true)
        #expect(queue.isEmpty && queue.unacknowledged.drops.isEmpty)
    }

    @Test func tallyMergesCountsAndRanges() {
        var tally = LossTally()
        tally.add(sequence: 5)
        tally.add(sequence: 0)  // a line without a sequence still counts
        tally.merge(LossTally(count: 2, range: 9...12))
        #expect(tally == LossTally(count: 4, range: 5...12))
    }
}
