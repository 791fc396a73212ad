import BindsnoopCore
import Foundation
import Testing

/// Each filter runs in the kernel: a matching and a non-matching bind, only one reported.
@Suite(.serialized) struct FilterTests {
    /// Runs `matching` and `other` while a tracer with `filter` runs; returns the pids that appeared.
    private func pidsSeen(filter: [String], matching: [String], other: [String],
                          prepare: ((Int32) throws -> Void)? = nil) throws -> (seen: Set<Int>, matching: Int32, other: Int32) {
        var tracer: Tracer?
        let wanted = try run(Harness.bindgen, ["--wait-stdin"] + matching, input: "go\n") { pid in
            try prepare?(pid)
            tracer = try Tracer(filter.map { $0.replacingOccurrences(of: "{pid}", with: "\(pid)") })
        }
        let unwanted = try run(Harness.bindgen, other)
        let t = try #require(tracer)
        #expect(t.stop() == 0)
        try validateAgainstSchema(t.lines)
        return (Set(t.events().compactMap { $0.path("process.pid") as? Int }), wanted.pid, unwanted.pid)
    }

    private func expectOnly(_ result: (seen: Set<Int>, matching: Int32, other: Int32),
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.seen.contains(Int(result.matching)), "matching bind missing", sourceLocation: sourceLocation)
        #expect(!result.seen.contains(Int(result.other)), "filtered bind reported", sourceLocation: sourceLocation)
    }

    @Test(.root) func pid() throws {
        expectOnly(try pidsSeen(filter: ["--pid", "{pid}"], matching: [], other: []))
    }

    @Test(.root) func ports() throws {
        let (a, b) = (Int.random(in: 20_000...39_999), Int.random(in: 40_000...59_999))
        let result = try pidsSeen(filter: ["-P", "\(a),1"], matching: ["--port", "\(a)"], other: ["--port", "\(b)"])
        expectOnly(result)
        #expect(result.seen.count == 1)
    }

    @Test(.root) func uid() throws {
        expectOnly(try pidsSeen(filter: ["--uid", "65534"], matching: ["--uid", "65534"], other: []))
    }

    @Test(.root) func outcomes() throws {
        expectOnly(try pidsSeen(filter: ["--outcome", "failure"], matching: ["--uid", "65534", "--port", "81"], other: []))
        expectOnly(try pidsSeen(filter: ["--outcome", "success"], matching: [], other: ["--uid", "65534", "--port", "82"]))
    }

    @Test(.root) func cgroup() throws {
        let root = try #require(CgroupMount.path(), "no cgroup2 hierarchy mounted")
        let directory = "\(root)/bindsnoop-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { rmdir(directory) }
        let result = try pidsSeen(filter: ["--cgroup", directory], matching: [], other: []) { pid in
            try "\(pid)\n".write(toFile: "\(directory)/cgroup.procs", atomically: false, encoding: .utf8)
        }
        expectOnly(result)
        #expect(result.seen == [Int(result.matching)])
    }
}
