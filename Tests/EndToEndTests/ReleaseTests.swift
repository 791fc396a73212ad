import Foundation
import Glibc
import Testing

/// Release lines: one line (event.action "release", event.type ["end"]) when
/// a socket that a bind line or the inventory reported gives its port back
/// (its last close), with the same socket id, address, port and process, and
/// how long it was held; none for a socket that was never reported.
@Suite(.serialized) struct ReleaseTests {
    struct Churn: Decodable {
        struct Socket: Decodable {
            var inode: UInt64
            var port: Int
        }

        var pid: Int32
        var plain: [Socket]
        var plain_closed: Int64
        var inherited: Socket
        var parent_closed: Int64
        var child_closed: Int64
        var reuseport: [Socket]
        var reuseport_first_closed: Int64
        var exec: Socket
        var exec_parent_closed: Int64
        var exec_closed: Int64
        var failed: Socket?
        var client: Socket
        var holder: Socket
        var done: Int64
    }

    static func socketID(_ line: [String: Any]) -> UInt64? {
        (line.path("bind.socket_id") as? Int).map(UInt64.init)
    }

    static func action(_ line: [String: Any]) -> String? {
        line.path("event.action") as? String
    }

    /// `2026-12-07T18:23:03.265345507Z` as nanoseconds since the epoch.
    static func nanoseconds(_ timestamp: Any?) -> Int64? {
        guard let text = timestamp as? String, text.hasSuffix("Z"), let dot = text.firstIndex(of: ".") else { return nil }
        let parts = text[..<dot].split(whereSeparator: { "-T:".contains($0) }).compactMap { Int32($0) }
        guard parts.count == 6 else { return nil }
        var time = tm()
        (time.tm_year, time.tm_mon, time.tm_mday) = (parts[0] - 1900, parts[1] - 1, parts[2])
        (time.tm_hour, time.tm_min, time.tm_sec) = (parts[3], parts[4], parts[5])
        let fraction = text[text.index(after: dot)..<text.index(before: text.endIndex)]
        guard let digits = Int64(fraction.padding(toLength: 9, withPad: "0", startingAt: 0)) else { return nil }
        return Int64(timegm(&time)) * 1_000_000_000 + digits
    }

    /// The churn of Tests/tools/release-churn.py, in tracepoint and cgroup
    /// mode (or TEST_PROBE_MODE's): for every socket it bound, the bind line and one release line
    /// after it, with its socket id, port, process and duration; the
    /// inherited socket released at the child's close, not the parent's;
    /// a SO_REUSEPORT group released one by one; a socket kept across an
    /// exec released at the new program's close; a failed bind's socket and
    /// a client's socket (its port from connect) with no release.
    @Test(.root, arguments: TestEnvironment.releaseModes) func everyReportedSocketIsReleasedOnceAtItsLastClose(mode: String) throws {
        let tracer = try Tracer(["--probe", mode])
        defer { tracer.stop() }
        let churned = try run(URL(fileURLWithPath: "/usr/bin/env"),
                              ["python3", Harness.packageDirectory.appending(path: "Tests/tools/release-churn.py").path])
        try #require(churned.status == 0, "\(churned.stderr)")
        let churn = try JSONDecoder().decode(Churn.self, from: Data(churned.stdout.utf8))
        usleep(300_000)  // the last lines written (the reader flushes every 10 ms)
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        let events = tracer.events()

        func lines(_ socket: Churn.Socket) -> (binds: [[String: Any]], releases: [[String: Any]]) {
            let mine = events.filter { Self.socketID($0) == socket.inode }
            return (mine.filter { Self.action($0) == "bind" }, mine.filter { Self.action($0) == "release" })
        }

        /// One successful bind and one release after it, matching it; the release's time.
        @discardableResult
        func expectReleased(_ socket: Churn.Socket, _ what: Comment) -> Int64? {
            let (binds, releases) = lines(socket)
            #expect(binds.count == 1 && binds.first?.path("event.outcome") as? String == "success", "\(what): \(binds)")
            #expect(releases.count == 1, "\(what): exactly one release: \(releases)")
            guard let bind = binds.first, let release = releases.first else { return nil }
            #expect(release.path("event.type") as? [String] == ["end"])
            #expect(release.path("event.kind") as? String == "event")
            #expect(release.path("server.port") as? Int == socket.port, "\(what)")
            for field in ["server.ip", "network.transport", "network.type", "process.pid", "process.name", "process.entity_id",
                          "process.start", "bind.netns", "bind.socket_type"] {
                #expect("\(release.path(field) ?? "nil")" == "\(bind.path(field) ?? "nil")", "\(what): \(field)")
            }
            #expect(release.path("bind.release.reported_by") as? String == "bind")
            #expect(release.path("bind.return_value") == nil && release.path("bind.probe") == nil)
            #expect(release.path("process.args") == nil && release.path("process.thread") == nil, "a release line is lean: the rest is on the bind line")
            let bound = Self.nanoseconds(bind["@timestamp"]) ?? 0
            let released = Self.nanoseconds(release["@timestamp"]) ?? 0
            let start = Self.nanoseconds(release.path("event.start")) ?? 0
            #expect(abs(start - bound) < 1_000_000, "\(what): event.start is the bind's time")
            #expect(released > bound)
            let duration = Int64(release.path("event.duration") as? Int ?? -1)
            #expect(abs(duration - (released - start)) < 1_000_000, "\(what): duration \(duration)")
            #expect((release.path("event.sequence") as? Int ?? 0) > (bind.path("event.sequence") as? Int ?? .max))
            return released
        }

        for socket in churn.plain {
            if let released = expectReleased(socket, "plain") { #expect(released <= churn.plain_closed + 50_000_000) }
        }
        if let released = expectReleased(churn.inherited, "inherited by a fork") {
            #expect(released >= churn.child_closed, "released at the child's close (\(churn.child_closed)), not the parent's (\(churn.parent_closed))")
        }
        let group = churn.reuseport.map { expectReleased($0, "SO_REUSEPORT group") }
        if let first = group[0], let second = group[1] {
            #expect(first < churn.reuseport_first_closed + 50_000_000 && second > first, "one by one")
        }
        if let released = expectReleased(churn.exec, "kept across an exec") {
            #expect(released >= churn.exec_closed, "released at the new program's close")
        }
        expectReleased(churn.holder, "the listener the client connected to")
        if let failed = churn.failed {
            #expect(lines(failed).releases.isEmpty, "a failed bind's socket is never reported bound")
            #expect(lines(failed).binds.first?.path("event.outcome") as? String == "failure")
        }
        #expect(lines(churn.client).releases.isEmpty && lines(churn.client).binds.isEmpty, "a client's socket")
        try validateAgainstSchema(tracer.lines)
    }

    /// The sockets of the inventory at start are released too (reported by
    /// the inventory), and a restart after kill -9 finds every socket the
    /// first run reported that is still bound in its own inventory, with
    /// the same socket id; their release comes in the second run.
    @Test(.root) func inventorySocketsAreReleasedAndARestartAfterKill9KeepsThem() throws {
        let before = try SocketHolder(["tcp4-listen", "udp6"])
        defer { before.stop() }
        let first = try Tracer([])
        let during = try SocketHolder(["tcp6-listen", "udp4"])
        defer { during.stop() }
        usleep(300_000)
        kill(first.process.processIdentifier, SIGKILL)
        #expect(first.waitForExit() != 0)
        let firstEvents = first.events()
        let reported = firstEvents.filter { Self.action($0) == "bind" || Self.action($0) == "inventory" }.compactMap(Self.socketID)
        let held = (before.description.sockets + during.description.sockets).map(\.inode)
        #expect(Set(held).isSubset(of: reported), "the first run reported all four: \(held) in \(reported.count)")

        let second = try Tracer([])
        defer { second.stop() }
        before.stop()
        during.stop()
        usleep(300_000)
        #expect(second.stop() == 0, "\(second.stderr)")
        let events = second.events()
        let inventory = events.filter { Self.action($0) == "inventory" }
        for (holder, socket) in before.description.sockets.map({ (before, $0) }) + during.description.sockets.map({ (during, $0) }) {
            #expect(inventory.filter { Self.socketID($0) == socket.inode }.count == 1, "in the second run's inventory: \(socket)")
            let releases = events.filter { Self.action($0) == "release" && Self.socketID($0) == socket.inode }
            #expect(releases.count == 1, "released once: \(socket)")
            #expect(releases.first?.path("bind.release.reported_by") as? String == "inventory")
            #expect(releases.first?.path("server.port") as? Int == socket.port)
            #expect(releases.first?.path("process.pid") as? Int == Int(holder.description.pid))
        }
        try validateAgainstSchema(first.lines.filter { $0.hasSuffix("}") })
        try validateAgainstSchema(second.lines)
    }

    /// A table of reported sockets too small for what is bound
    /// (release.max_sockets 16, 24 sockets held): the sockets that found
    /// no room are counted in an in-band events-lost record (source
    /// release); every socket held has a release line or is counted.
    @Test(.root) func aFullTableIsReportedInBand() throws {
        let tracer = try Tracer([], environment: ["BINDSNOOP_RELEASE_MAX_SOCKETS": "16"])
        defer { tracer.stop() }
        let holder = try SocketHolder(Array(repeating: "udp4", count: 24))
        holder.stop()
        usleep(1_500_000)  // the loss record comes with the next second's tick
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        let events = tracer.events()
        let losses = events.filter { Self.action($0) == "events-lost" && $0.path("bind.lost.source") as? String == "release" }
        let counted = losses.reduce(0) { $0 + ($1.path("bind.lost.events") as? Int ?? 0) }
        let released = Set(events.filter { Self.action($0) == "release" }.compactMap(Self.socketID))
        let ours = holder.description.sockets.filter { released.contains($0.inode) }.count
        #expect(counted >= 8, "at least 24 - 16 sockets found no room: \(losses)")
        #expect(ours <= 16 && ours + counted >= 24, "released \(ours), counted \(counted)")
        #expect(losses.first?.path("bind.lost.reason") as? String == "the table of reported sockets is full: raise release.max_sockets")
        #expect(tracer.stderr.contains("release lines lost"), "\(tracer.stderr)")
        try validateAgainstSchema(tracer.lines)
    }

    /// `release.enabled: false`: no release hook, no release line.
    @Test(.root) func releasesCanBeTurnedOff() throws {
        let tracer = try Tracer([], environment: ["BINDSNOOP_RELEASE_ENABLED": "false"])
        defer { tracer.stop() }
        let holder = try SocketHolder(["tcp4-listen"])
        holder.stop()
        usleep(300_000)
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        #expect(!tracer.stderr.contains("cgroup_sock_release"), "\(tracer.stderr)")
        #expect(!tracer.lines.contains { $0.contains(#""action":"release""#) })
    }
}
