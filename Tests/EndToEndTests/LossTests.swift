import Foundation
import Testing

/// Loss is never silent: a tiny ring buffer and a stopped reader force the
/// kernel to drop events, and the in-band records account for every one.
struct LossTests {
    @Test(.root) func receivedPlusReportedLostEqualsBindsMade() throws {
        let binds = 3000
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "\(binds)", "--quiet", "--summary"], input: "go\n") { pid in
            let t = try Tracer(["--pid", "\(pid)", "--ring-buffer-size", "4KiB"])
            kill(t.process.processIdentifier, SIGSTOP)  // the reader stops: the ring buffer fills
            tracer = t
        }
        let t = try #require(tracer)
        kill(t.process.processIdentifier, SIGCONT)
        #expect(t.stop() == 0)

        let events = t.events()
        let received = events.filter { $0.path("event.action") as? String == "bind" && $0.path("process.pid") as? Int == Int(load.pid) }
        let reports = events.filter { $0.path("event.action") as? String == "events-lost" }
        let lost = reports.compactMap { $0.path("bind.lost.events") as? Int }.reduce(0, +)
        #expect(lost > 0, "a 4 KiB ring buffer and a stopped reader must lose events")
        #expect(reports.allSatisfy { $0.path("bind.lost.source") as? String == "kernel" && $0.path("event.kind") as? String == "metric" })
        #expect(received.count + lost == binds, "received \(received.count) + lost \(lost) != \(binds) binds made")
        #expect(reports.last?.path("bind.lost.total") as? Int == lost)
        #expect(StatusLine.stopped(in: t.stderr)?.int("lost") == lost, "the final count is logged at exit: \(t.stderr)")
        let sequences = events.compactMap { $0.path("event.sequence") as? Int }
        #expect(sequences == Array(1...sequences.count), "loss records take sequence numbers too: no gaps")
        try validateAgainstSchema(t.lines)
    }

    /// A full ring buffer is drained in bounded batches: draining 60 000
    /// queued events (about 48 MB of NDJSON) grows bindsnoop's memory by a
    /// few MiB, not by the size of the backlog.
    @Test(.root) func backlogIsWrittenInBoundedBatches() throws {
        func kib(_ field: String, of pid: Int32) -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        let binds = 60_000
        var tracer: Tracer?
        var before = 0
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "\(binds)", "--quiet"], input: "go\n") { pid in
            // Room for every bind and its socket's release (about 160 bytes each).
            let t = try Tracer(["--pid", "\(pid)", "--ring-buffer-size", "32MiB"])
            usleep(300_000)
            before = kib("VmRSS", of: t.process.processIdentifier)
            kill(t.process.processIdentifier, SIGSTOP)
            tracer = t
        }
        let t = try #require(tracer)
        kill(t.process.processIdentifier, SIGCONT)
        var drained = 0
        let deadline = Date().addingTimeInterval(30)
        while drained < 2 * binds && Date() < deadline {
            usleep(100_000)
            drained = t.lines.count
        }
        let peak = kib("VmHWM", of: t.process.processIdentifier)
        #expect(t.stop() == 0)
        let mine = t.events().filter { $0.path("process.pid") as? Int == Int(load.pid) && $0.path("event.action") as? String == "bind" }.count
        #expect(mine == binds, "every queued event written")
        #expect(peak - before < 16 << 10, "memory grew by \((peak - before) >> 10) MiB while draining \(binds) events")
    }
}
