@testable import BindsnoopCore
import Foundation
import Testing

/// What /metrics and /healthz answer, without a socket or root.
@Suite struct MetricsStateTests {
    private static let attachment = MetricsState.Attachment(mode: .tracepoint, programs: [("tracepoint_sys_exit_bind_cast", -1)],
                                                            ringBufferSize: 2 << 20)

    private func telemetry(read: UInt64, lost: UInt64, fileLines: UInt64, selfCheck: Telemetry.SelfCheck = .passed) -> Telemetry {
        var t = Telemetry()
        t.events.read = read
        t.events.lost = lost
        var file = SinkStatistics()
        file.lines = fileLines
        file.rotations = 2
        t.sinks = [("file", file), ("stdout", SinkStatistics())]
        t.selfCheck = selfCheck
        return t
    }

    /// The value of one sample line of the exposition (`name{labels} value`).
    private func sample(_ exposition: String, _ series: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test func countersFollowThePublishedTotals() {
        let state = MetricsState(bpfStatsEnabled: { false })
        state.attached(Self.attachment)
        state.publish(telemetry(read: 10, lost: 1, fileLines: 9))
        let first = state.metrics()
        #expect(sample(first, "bindsnoop_events_read_total") == 10)
        #expect(sample(first, #"bindsnoop_events_lost_total{source="kernel"}"#) == 1)
        #expect(sample(first, #"bindsnoop_sink_lines_total{sink="file"}"#) == 9)
        #expect(sample(first, #"bindsnoop_sink_rotations_total{sink="file"}"#) == 2)
        #expect(!first.contains(#"bindsnoop_sink_rotations_total{sink="stdout"}"#), "file-only metrics for the file sink only")
        #expect(sample(first, "bindsnoop_self_check_passed") == 1)
        // A second scrape of the same snapshot moves nothing; a new one moves by the deltas.
        #expect(sample(state.metrics(), "bindsnoop_events_read_total") == 10)
        state.publish(telemetry(read: 250, lost: 1, fileLines: 240, selfCheck: .failed(programs: ["cgroup_bind4"])))
        let second = state.metrics()
        #expect(sample(second, "bindsnoop_events_read_total") == 250)
        #expect(sample(second, #"bindsnoop_sink_lines_total{sink="file"}"#) == 240)
        #expect(sample(second, "bindsnoop_self_check_passed") == 0)
        #expect(second.contains(#"bindsnoop_attach_info{mode="tracepoint",programs="tracepoint_sys_exit_bind_cast"} 1"#), "\(second)")
    }

    @Test func everyServedMetricIsInTheCatalogWithItsHelp() {
        let state = MetricsState(bpfStatsEnabled: { false })
        state.attached(Self.attachment)
        state.publish(telemetry(read: 1, lost: 0, fileLines: 1))
        let exposition = state.metrics()
        let served = Set(exposition.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }.map(String.init))
        let catalog = Dictionary(uniqueKeysWithValues: MetricCatalog.all.map { ($0.name, $0) })
        #expect(served.isSubset(of: Set(catalog.keys)), "\(served.subtracting(catalog.keys))")
        for name in served {
            let metric = catalog[name]!
            #expect(exposition.contains("# TYPE \(name) \(metric.kind.rawValue)"), "\(name)")
            #expect(exposition.contains("# HELP \(name) \(metric.help)"), "\(name)")
        }
    }

    @Test func healthSaysWhyNot() {
        let state = MetricsState(bpfStatsEnabled: { false })
        #expect(state.health() == "not attached yet")
        #expect(state.respond(method: "GET", uri: "/healthz").status == 503)
        state.attached(Self.attachment)
        #expect(state.health() == nil)
        #expect(state.respond(method: "GET", uri: "/healthz") == MetricsState.Response(status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n"))
        #expect(state.health(now: monotonicSeconds() + MetricsState.stalledAfter + 2)?.hasPrefix("the reader has not run for") == true)
        #expect(state.liveness(now: monotonicSeconds() + MetricsState.stalledAfter + 2)?.hasPrefix("the reader has not run for") == true)
        state.publish(telemetry(read: 1, lost: 0, fileLines: 1, selfCheck: .failed(programs: ["cgroup_bind4"])))
        #expect(state.health()?.contains("cgroup_bind4") == true)
        #expect(state.respond(method: "GET", uri: "/livez").status == 503)
        #expect(state.respond(method: "POST", uri: "/metrics").status == 405)
        #expect(state.respond(method: "GET", uri: "/nothing").status == 404)
        #expect(state.respond(method: "GET", uri: "/metrics?x=1").status == 200)
    }

    /// A sink that has not delivered for `stalledAfter` fails /healthz with its
    /// name and reason (not /livez: a restart mends neither a full disk nor an
    /// absent forwarder); its gauge says so at once, its drops count by reason.
    @Test func aSinkThatDoesNotDeliverIsNamed() {
        let state = MetricsState(bpfStatsEnabled: { false })
        state.attached(Self.attachment)
        let now = monotonicSeconds()
        var t = telemetry(read: 100, lost: 0, fileLines: 100)
        var unix = SinkStatistics()
        unix.lines = 40
        unix.dropped = ["buffer_full": 60]
        unix.problem = SinkProblem("the forwarder at /run/f.sock is not reading", since: now - 3)
        t.sinks.append(("unix", unix))
        state.publish(t)
        let exposition = state.metrics()
        #expect(sample(exposition, #"bindsnoop_sink_up{sink="unix"}"#) == 0)
        #expect(sample(exposition, #"bindsnoop_sink_up{sink="file"}"#) == 1)
        #expect(sample(exposition, #"bindsnoop_sink_dropped_lines_total{sink="unix",reason="buffer_full"}"#) == 60)
        #expect(sample(exposition, #"bindsnoop_events_lost_total{source="unix"}"#) == 60)
        #expect(state.health(now: now) == nil, "3 s is under stalledAfter")
        let later = now + MetricsState.stalledAfter
        let problem = state.health(now: later) ?? "healthy"
        #expect(problem.hasPrefix("sink unix not delivering for \(Int(MetricsState.stalledAfter) + 3) s: the forwarder at /run/f.sock"), "\(problem)")
        #expect(state.liveness(now: later) == nil)
        #expect(state.respond(method: "GET", uri: "/livez").status == 200)
        // Delivering again: healthy again, the counter stays.
        t.sinks[2].statistics.problem = nil
        state.publish(t)
        #expect(state.health(now: later) == nil)
        #expect(sample(state.metrics(), #"bindsnoop_sink_up{sink="unix"}"#) == 1)
    }

    /// The README's metric table lists exactly the catalog: names, kinds and labels.
    @Test func theReadmeListsEveryMetric() throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appending(path: "README.md"), encoding: .utf8)
        var listed: [String: (kind: String, labels: [String])] = [:]
        for line in readme.split(separator: "\n") where line.hasPrefix("| `bindsnoop_") || line.hasPrefix("| `process_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let series = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let name = String(series.prefix { $0 != "{" })
            let labels = series.contains("{") ? series.drop { $0 != "{" }.dropFirst().dropLast().split(separator: ",").map(String.init) : []
            #expect(listed[name] == nil, "\(name) twice")
            listed[name] = (cells[1], labels)
        }
        #expect(Set(listed.keys) == Set(MetricCatalog.all.map(\.name)), "README: \(listed.keys.sorted())")
        for metric in MetricCatalog.all {
            #expect(listed[metric.name]?.kind == metric.kind.rawValue, "\(metric.name)")
            #expect(listed[metric.name]?.labels == metric.labels, "\(metric.name)")
        }
    }
}
