@testable import BindsnoopCore
import Foundation
import Testing

/// `--rate-limit`: pure logic, then through the reader (sequences, records).
@Suite struct RateLimiterTests {
    private let second: UInt64 = 1_000_000_000

    @Test func admitsTheLimitPerProcessAndWindowAndCountsTheRest() {
        var limiter = RateLimiter(limit: 3)
        var names = 0
        let admitted = (0..<10).map { i in
            limiter.admit(pid: 7, at: 5 * second + UInt64(i) * 1000, name: { names += 1; return Array("flood".utf8) })
        }
        #expect(admitted == [true, true, true] + Array(repeating: false, count: 7))
        #expect(names == 1, "the name is taken once per window")
        let other = limiter.admit(pid: 8, at: 5 * second, name: { [] })
        #expect(other, "another process has its own allowance")
        #expect(limiter.total == 7)
        // The next window admits again, and keeps the count until it is reported.
        let nextWindow = limiter.admit(pid: 7, at: 6 * second + 1, name: { [] })
        #expect(nextWindow)
        let report = limiter.takeSuppressed(now: 6 * second + 2)
        #expect(report == [RateLimiter.Suppressed(pid: 7, count: 7, name: Array("flood".utf8))])
        let again = limiter.takeSuppressed(now: 6 * second + 3)
        #expect(again.isEmpty, "each suppressed event is reported once")
    }

    @Test func forgetsProcessesIdleForAWholeWindow() {
        var limiter = RateLimiter(limit: 1)
        for pid in UInt32(1)...1000 { _ = limiter.admit(pid: pid, at: second, name: { [] }) }
        _ = limiter.takeSuppressed(now: 4 * second)
        // Forgotten: pid 1 starts a fresh window with its whole allowance.
        let fresh = limiter.admit(pid: 1, at: 4 * second, name: { [] })
        let second = limiter.admit(pid: 1, at: 4 * second + 1, name: { [] })
        #expect(fresh && !second)
    }

    @Test func readerWritesTheLimitThenOneRecordWithGaplessSequences() throws {
        var reader = Reader(mode: .json, enrichment: RecordFixtures.enrichment(), rateLimit: 2)
        let bytes = withUnsafeBytes(of: RecordFixtures.record(comm: Array("flood\"er".utf8)).raw) { Array($0) }
        for _ in 0..<5 { #expect(bytes.withUnsafeBytes { reader.handle($0) } == 0) }
        reader.recordRateLimits()
        var lines: [String] = []
        reader.drain { (batch: LineBatch) in
            for i in 0..<batch.count { lines.append(String(decoding: batch.line(i), as: UTF8.self)) }
        }
        #expect(lines.count == 3, "\(lines)")
        let records = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(records.map { $0.path("event.sequence") as? Int } == [1, 2, 3])
        let limited = records[2]
        #expect(limited.path("event.kind") as? String == "metric")
        #expect(limited.path("event.action") as? String == "rate-limited")
        #expect(limited.path("process.pid") as? Int == 1234)
        #expect(limited.path("process.name") as? String == "flood\"er")
        #expect(limited.path("bind.rate_limit.suppressed") as? Int == 3)
        #expect(limited.path("bind.rate_limit.per_second") as? Int == 2)
        let (read, held) = (reader.eventsRead, reader.rateLimited)
        #expect(read == 5 && held == 3)
    }
}
