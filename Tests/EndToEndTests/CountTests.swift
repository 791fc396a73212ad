import Foundation
import Testing

/// `--count`: binds per local address and port, printed once at exit.
struct CountTests {
    @Test(.root) func countsPerAddressAndPortAtExit() throws {
        let port = Int.random(in: 20_000...59_999)
        var json: Tracer?
        var table: Tracer?
        var fromEnvironment: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "3", "--port", "\(port)", "--quiet"], input: "go\n") { pid in
            json = try Tracer(["--count", "--pid", "\(pid)"])
            table = try Tracer(["--count", "--format", "table", "--pid", "\(pid)"])
            fromEnvironment = try Tracer(["--pid", "\(pid)"], environment: ["BINDSNOOP_COUNT": "true"])
        }
        _ = try run(Harness.bindgen, ["--family", "6", "--addr", "::1", "--port", "\(port)", "--uid", "65534"])  // another pid: not counted
        let (j, t) = (try #require(json), try #require(table))
        #expect(j.stop() == 0)
        #expect(t.stop() == 0)
        #expect(load.status == 0)

        let lines = j.events()
        #expect(lines.count == 1, "one address and port: \(j.lines)")
        let line = try #require(lines.first)
        #expect(line.path("event.action") as? String == "bind-count")
        #expect(line.path("server.ip") as? String == "0.0.0.0")
        #expect(line.path("server.port") as? Int == port)
        #expect(line.path("network.transport") as? String == "tcp")
        #expect(line.path("bind.count.binds") as? Int == 3)
        #expect(line.path("bind.count.failures") as? Int == 0)
        try validateAgainstSchema(j.lines)

        let e = try #require(fromEnvironment)
        #expect(e.stop() == 0, "BINDSNOOP_COUNT=true: \(e.stderr)")
        #expect(e.events().map { $0.path("bind.count.binds") as? Int } == [3], "BINDSNOOP_COUNT=true counts like --count: \(e.lines)")

        let rows = t.lines
        #expect(rows.first?.split(separator: " ", omittingEmptySubsequences: true) == ["PROT", "LADDR", "LPORT", "BINDS", "FAILED"])
        #expect(rows.dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) } == [["TCP", "0.0.0.0", "\(port)", "3", "0"]])
    }
}
