import Foundation
import Testing

/// Issue 15: what an operator watches, with the real consumers: Debian's
/// Prometheus server scrapes the endpoint, `promtool` checks the
/// exposition, heartbeats and rate-limit records arrive in the stream.
@Suite struct OperationsTests {
    /// Prometheus scrapes bindsnoop: the target is up and
    /// bindsnoop_events_read_total moves with real binds; the exposition
    /// passes `promtool check metrics`; /healthz answers 200.
    @Test(.root) func prometheusScrapesTheEndpoint() throws {
        let port = try freePort()
        let tracer = try Tracer(["--metrics-address", "127.0.0.1:\(port)"])
        let health = try get("http://127.0.0.1:\(port)/healthz")
        #expect(health.status == 200 && health.body.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(health)")
        #expect(try get("http://127.0.0.1:\(port)/livez").status == 200)
        let exposition = try get("http://127.0.0.1:\(port)/metrics")
        #expect(exposition.status == 200)
        let file = Harness.temporaryFile("metrics.txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(exposition.body.utf8).write(to: file)
        let lint = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", "promtool check metrics < \(file.path)"])
        #expect(lint.status == 0, "promtool: \(lint.stdout)\(lint.stderr)")
        for name in ["bindsnoop_events_read_total", "bindsnoop_events_lost_total{source=\"kernel\"}", "bindsnoop_sink_lines_total{sink=\"stdout\"}", "bindsnoop_sink_up{sink=\"stdout\"} 1",
                     "bindsnoop_attach_info{mode=", "bindsnoop_self_check_passed 1", "bindsnoop_ring_buffer_size_bytes", "process_start_time_seconds"] {
            #expect(exposition.body.contains(name), "\(name) missing:\n\(exposition.body)")
        }

        let directory = Harness.temporaryFile("prometheus")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appending(path: "prometheus.yml")
        try Data("""
            global: {scrape_interval: 1s, scrape_timeout: 900ms}
            scrape_configs:
              - job_name: bindsnoop
                static_configs: [{targets: ['127.0.0.1:\(port)']}]
            """.utf8).write(to: config)
        let webPort = try freePort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(directory.path)/data",
                                "--web.listen-address=127.0.0.1:\(webPort)"]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle.nullDevice
        try prometheus.runUnmasked()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }
        func query(_ expression: String) throws -> Double? {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
            let answer = try get("http://127.0.0.1:\(webPort)/api/v1/query?query=\(encoded)")
            guard let json = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
                  let result = (json.path("data.result") as? [[String: Any]])?.first,
                  let value = (result["value"] as? [Any])?.last as? String else { return nil }
            return Double(value)
        }
        #expect(try waitFor(30) { try query("up{job=\"bindsnoop\"}") == 1 }, "the target never came up")
        let before = try #require(try query("bindsnoop_events_read_total"))
        let load = try run(Harness.bindgen, ["--count", "200", "--quiet"])
        #expect(load.status == 0)
        var after = before
        #expect(try waitFor(15) {
            after = try query("bindsnoop_events_read_total") ?? before
            return after >= before + 200
        }, "bindsnoop_events_read_total went from \(before) to \(after) for 200 binds")
        print("prometheus: target up, bindsnoop_events_read_total \(before) -> \(after) after 200 binds")
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
    }

    /// Without CAP_NET_BIND_SERVICE a port below 1024 (where the host keeps
    /// them privileged) is refused in one line, before anything is loaded.
    @Test(.root("needs root to switch to an unprivileged user"),
          .enabled(if: (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8))
                        .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map { $0 > 80 } ?? false,
                   "port 80 is not privileged on this host"))
    func aPrivilegedPortIsRefusedWithOneLine() throws {
        let result = try run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                             ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                              Harness.bindsnoop.path, "--metrics-address", "127.0.0.1:80", "--duration", "1"])
        #expect(result.status == 64, "a flag's value: \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("EACCES") && result.stderr.contains("CAP_NET_BIND_SERVICE"), "\(result.stderr)")
    }

    /// --user: the port is bound as root, then scraped as nobody.
    @Test(.root) func theEndpointAnswersAfterPrivilegesAreDropped() throws {
        let port = try freePort()
        let tracer = try Tracer(["--metrics-address", "127.0.0.1:\(port)", "--user", "nobody"])
        let load = try run(Harness.bindgen, ["--count", "5", "--quiet"])
        #expect(load.status == 0)
        var body = ""
        #expect(try waitFor(5) {
            body = try get("http://127.0.0.1:\(port)/metrics").body
            return body.contains("bindsnoop_events_read_total") && !body.contains("bindsnoop_events_read_total 0\n")
        }, "\(body)")
        #expect(try get("http://127.0.0.1:\(port)/healthz").status == 200)
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
    }

    /// heartbeat.interval 1s: a heartbeat a second, in sequence with the
    /// events, valid against the schema, counting what was read.
    @Test(.root) func heartbeatsArriveInBandWithGaplessSequences() throws {
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "30", "--pause-ms", "100", "--quiet"], input: "go\n") { pid in
            tracer = try Tracer(["--pid", "\(pid)"], environment: ["BINDSNOOP_HEARTBEAT_INTERVAL": "1s"])
        }
        usleep(1_200_000)
        let t = try #require(tracer)
        #expect(t.stop() == 0, "\(t.stderr)")
        let events = t.events()
        #expect(events.map { $0.path("event.sequence") as? Int } == Array(1...events.count).map { $0 })
        let heartbeats = events.filter { $0.path("event.action") as? String == "heartbeat" }
        let binds = events.filter { $0.path("process.pid") as? Int == Int(load.pid) && $0.path("event.action") as? String == "bind" }
        #expect(binds.count == 30)
        #expect(heartbeats.count >= 3, "\(heartbeats.count) heartbeats in about 4 s")
        #expect(heartbeats.allSatisfy { $0.path("bind.heartbeat.self_check.passed") as? Bool == true })
        let reads = heartbeats.compactMap { $0.path("bind.heartbeat.totals.read") as? Int }
        #expect(reads == reads.sorted() && (reads.last ?? 0) <= 60 && (reads.last ?? 0) > 0, "binds and their releases: \(reads)")
        let intervals = heartbeats.compactMap { $0.path("bind.heartbeat.events.read") as? Int }
        #expect(intervals.reduce(0, +) == reads.last, "the intervals add up to the total: \(intervals)")
        try validateAgainstSchema(t.lines)
    }

    /// Two runs, the first stopped by SIGKILL (no shutdown of its own): every line's
    /// event.id is the run's id (the heartbeat's agent.ephemeral_id, the
    /// attached line's run=) and the line's sequence, and no id of the first
    /// run comes again in the second (a store that takes event.id as its
    /// document id keeps the lines of both).
    @Test(.root) func eventIDsNeverRepeatAcrossRunsEvenAfterKill9() throws {
        var runs: [(run: String, ids: [String])] = []
        for killed in [true, false] {
            var tracer: Tracer?
            _ = try run(Harness.bindgen, ["--wait-stdin", "--count", "20", "--pause-ms", "60", "--quiet"], input: "go\n") { pid in
                tracer = try Tracer(["--pid", "\(pid)"], environment: ["BINDSNOOP_HEARTBEAT_INTERVAL": "1s"])
            }
            usleep(600_000)
            let t = try #require(tracer)
            if killed {
                kill(t.process.processIdentifier, SIGKILL)
                #expect(t.waitForExit() != 0)
            } else {
                #expect(t.stop() == 0, "\(t.stderr)")
            }
            let events = t.events()
            let heartbeat = try #require(events.first { $0.path("event.action") as? String == "heartbeat" }, "\(t.lines)")
            let run = try #require(heartbeat.path("agent.ephemeral_id") as? String)
            #expect(t.stderr.contains("run=\(run)"), "\(t.stderr)")
            #expect(events.filter { $0.path("event.action") as? String == "bind" }.count >= 10)
            for event in events {
                #expect(event.path("event.id") as? String == "\(run)-\(event.path("event.sequence") as? Int ?? -1)")
            }
            try validateAgainstSchema(t.lines)
            runs.append((run, events.compactMap { $0.path("event.id") as? String }))
        }
        #expect(runs[0].run != runs[1].run)
        #expect(Set(runs[0].ids).isDisjoint(with: runs[1].ids), "\(runs[0].ids.prefix(3)) \(runs[1].ids.prefix(3))")
    }

    /// --rate-limit 100/s against a 100 000-bind storm: about 100 events a
    /// second from the storm, the rest counted in rate-limited records
    /// (written + suppressed = binds made), sequences gapless, and a second,
    /// steady process meanwhile loses nothing.
    @Test(.root) func aFloodingProcessIsHeldToItsRateAndAnotherIsNot() throws {
        let tracer = try Tracer(["--rate-limit", "100/s", "--ring-buffer-size", "64MiB"])
        let steady = Process()
        steady.executableURL = Harness.bindgen
        steady.arguments = ["--count", "60", "--pause-ms", "20", "--quiet"]
        try steady.runUnmasked()
        let started = Date()
        let storm = try run(Harness.bindgen, ["--count", "100000", "--quiet"])
        let seconds = Date().timeIntervalSince(started)
        steady.waitUntilExit()
        usleep(1_500_000)  // the last window's record
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        let events = tracer.events()
        #expect(events.map { $0.path("event.sequence") as? Int } == Array(1...events.count).map { $0 }, "gapless")
        let written = events.filter { $0.path("process.pid") as? Int == Int(storm.pid) && $0.path("event.action") as? String == "bind" }.count
        let releases = events.filter { $0.path("process.pid") as? Int == Int(storm.pid) && $0.path("event.action") as? String == "release" }.count
        let records = events.filter { $0.path("event.action") as? String == "rate-limited" && $0.path("process.pid") as? Int == Int(storm.pid) }
        let suppressed = records.compactMap { $0.path("bind.rate_limit.suppressed") as? Int }.reduce(0, +)
        let steadyEvents = events.filter { $0.path("process.pid") as? Int == Int(steady.processIdentifier) && $0.path("event.action") as? String == "bind" }
        print("rate limit 100/s: storm of 100000 binds in \(String(format: "%.1f", seconds)) s: \(written) written, \(suppressed) suppressed in \(records.count) records; steady process \(steadyEvents.count) of 60")
        #expect(written + suppressed == 100_000)
        #expect(releases == written, "a release exactly where its bind was written")
        #expect(written <= 100 * (Int(seconds) + 2), "\(written) events in \(seconds) s")
        #expect(written >= 100)
        #expect(records.count <= Int(seconds) + 3, "one record per second at most")
        #expect(steadyEvents.count == 60)
        #expect(steadyEvents.allSatisfy { $0.path("event.kind") as? String == "event" })
        #expect(StatusLine.stopped(in: tracer.stderr)?.int("lost") == 0, "\(tracer.stderr)")
        try validateAgainstSchema(tracer.lines.filter { $0.contains("\"pid\":\(storm.pid),") || $0.contains("rate-limited") })
    }

    /// The periodic self-check sees a hook that stops working: one of
    /// bindsnoop's links is detached behind its back (bpftool), and within
    /// the check's 10 s /healthz answers 503 naming the program, the metric
    /// drops to 0 and the next heartbeat says so.
    @Test(.root) func aDetachedHookFailsTheHealthCheck() throws {
        let port = try freePort()
        let tracer = try Tracer(["--probe", "cgroup", "--metrics-address", "127.0.0.1:\(port)"],
                                environment: ["BINDSNOOP_HEARTBEAT_INTERVAL": "1s"])
        // bindsnoop's links: its descriptors' fdinfo names link and program.
        let fdinfo = "/proc/\(tracer.process.processIdentifier)/fdinfo"
        var found: Int?
        for entry in try FileManager.default.contentsOfDirectory(atPath: fdinfo) {
            let info = (try? String(contentsOfFile: "\(fdinfo)/\(entry)", encoding: .utf8)) ?? ""
            func field(_ name: String) -> Int? {
                info.split(separator: "\n").first { $0.hasPrefix("\(name):") }.flatMap { Int($0.split(separator: "\t").last ?? "") }
            }
            guard let linkID = field("link_id"), let programID = field("prog_id") else { continue }
            let program = try run(URL(fileURLWithPath: "/usr/sbin/bpftool"), ["-j", "prog", "show", "id", "\(programID)"])
            if program.stdout.contains("\"name\":\"cgroup_bind4\"") { found = linkID }
        }
        let link = try #require(found, "no link of cgroup_bind4 among bindsnoop's descriptors")
        let detach = try run(URL(fileURLWithPath: "/usr/sbin/bpftool"), ["link", "detach", "id", "\(link)"])
        #expect(detach.status == 0, "\(detach.stderr)")
        var health = (status: 0, body: "")
        #expect(try waitFor(15) {
            health = try get("http://127.0.0.1:\(port)/healthz")
            return health.status == 503
        }, "\(health)")
        #expect(health.body.contains("cgroup_bind4"), "\(health.body)")
        #expect(try get("http://127.0.0.1:\(port)/metrics").body.contains("bindsnoop_self_check_passed 0"))
        usleep(1_200_000)
        #expect(tracer.stop() == 0)
        #expect(tracer.stderr.contains("self-check failed") && tracer.stderr.contains("cgroup_bind4"), "\(tracer.stderr)")
        let last = tracer.events().last { $0.path("event.action") as? String == "heartbeat" }
        #expect(last?.path("bind.heartbeat.self_check.passed") as? Bool == false)
        #expect(last?.path("bind.heartbeat.self_check.programs") as? [String] == ["cgroup_bind4"])
        print("self-check after a detach: /healthz \(health.status): \(health.body.trimmingCharacters(in: .newlines))")
    }
}
