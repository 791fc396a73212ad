@testable import BindsnoopCore
import Foundation
import Testing

/// The heartbeat record as the reader writes it.
@Suite struct HeartbeatTests {
    @Test func heartbeatCarriesIntervalCountsAndTotals() throws {
        var telemetry = Telemetry()
        telemetry.events.read = 1500
        telemetry.events.lost = 7
        telemetry.events.rateLimited = 300
        var file = SinkStatistics()
        file.lines = 1200
        telemetry.sinks = [("file", file)]
        telemetry.selfCheck = .failed(programs: ["cgroup_bind4"])
        var previous = Telemetry.Counts()
        previous.read = 1000
        previous.rateLimited = 100
        var reader = Reader(mode: .json, enrichment: RecordFixtures.enrichment())
        reader.recordHeartbeat(Heartbeat(interval: 60, uptime: 120.4, probe: .cgroup, now: telemetry, previous: previous))
        var line = ""
        reader.drain { (batch: LineBatch) in line = String(decoding: batch.line(0), as: UTF8.self) }
        let record = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(record.path("event.action") as? String == "heartbeat")
        #expect(record.path("event.sequence") as? Int == 1)
        #expect(record.path("event.id") as? String == "\(RecordFixtures.host.runID)-1")
        #expect(record.path("agent.ephemeral_id") as? String == RecordFixtures.host.runID, "the heartbeat names the run")
        #expect(record.path("bind.probe") as? String == "cgroup")
        #expect(record.path("bind.heartbeat.interval") as? Int == 60)
        #expect(record.path("bind.heartbeat.uptime") as? Int == 120)
        #expect(record.path("bind.heartbeat.events.read") as? Int == 500)
        #expect(record.path("bind.heartbeat.events.rate_limited") as? Int == 200)
        #expect(record.path("bind.heartbeat.totals.lost") as? Int == 7)
        #expect(record.path("bind.heartbeat.self_check.passed") as? Bool == false)
        #expect(record.path("bind.heartbeat.self_check.programs") as? [String] == ["cgroup_bind4"])
        #expect(record.path("bind.heartbeat.sinks.file.lines") as? Int == 1200)
    }
}
