import Foundation
import Testing

/// Who bound it: the executable, the arguments, the start and the entity
/// ids, read in the kernel at bind time, from real processes in every mode
/// this kernel attaches (the kernel matrix runs it in each of its modes).
@Suite(.serialized) struct ProcessIdentityTests {
    /// TEST_PROBE_MODE's mode (the kernel matrix), else the modes this host attaches.
    static let modes: [String] = Harness.probe.map { [$0] } ?? ["tracepoint", "cgroup"]

    static func tracer(mode: String) throws -> Tracer {
        try Tracer(Harness.probe == nil ? ["--probe", mode] : [])
    }

    static func mine(_ tracer: Tracer, pid: Int32) -> [[String: Any]] {
        tracer.events().filter { $0.path("event.action") as? String == "bind" && $0.path("process.pid") as? Int == Int(pid) }
    }

    /// The recipe of the README, computed with the real sha256sum.
    static func entityID(pid: Int32, startTicks: UInt64) throws -> String {
        let machine = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let hashed = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", "printf '%s' \"$1\" | sha256sum | cut -c1-32", "sh",
                                                               "\(machine):\(boot):\(pid):\(startTicks)"])
        return hashed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Field 22 of /proc/PID/stat and the name (field 2) of a living process.
    static func stat(_ pid: Int32) throws -> (name: String, startTicks: UInt64) {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let open = try #require(text.firstIndex(of: "(")), close = try #require(text.lastIndex(of: ")"))
        let fields = text[text.index(after: close)...].split(separator: " ")
        return (String(text[text.index(after: open)..<close]), try #require(UInt64(fields[19])))
    }

    static func date(_ value: Any?) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (value as? String).flatMap { text in
            // Foundation parses at most microseconds: the nanoseconds are cut.
            let cut = text.replacingOccurrences(of: #"(\.\d{6})\d+Z$"#, with: "$1Z", options: .regularExpression)
            return formatter.date(from: cut)
        }
    }

    /// A program that names itself "sshd" and binds twice, a process that
    /// binds and exits at once, and one that binds, execs another program
    /// and binds again: the real program, arguments, start and ids of each.
    @Test(.root, arguments: modes) func everyBindNamesItsRealProgram(mode: String) throws {
        let tracer = try Self.tracer(mode: mode)
        let started = Date()
        let bindgen = Harness.bindgen.resolvingSymlinksInPath().path
        let me = try Self.stat(getpid())

        // prctl(PR_SET_NAME, "sshd") by another name: /proc/self/comm.
        let renamed = try run(Harness.bindgen, ["--count", "2", "--quiet", "--comm-hex", "73736864"])
        // Binds and exits within a millisecond, as nobody.
        let quick = try run(Harness.bindgen, ["--uid", "65534", "--count", "1", "--quiet", "--proto", "udp"])
        // Binds, then execs bindgen, which binds again: the same process, another program.
        let python = try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import os, socket, sys
            s = socket.socket(); s.bind(("127.0.0.1", 0))
            print(os.path.realpath(sys.executable), flush=True)
            os.execv(sys.argv[1], [sys.argv[1], "--count", "1", "--quiet"])
            """, bindgen])
        let pythonPath = python.stdout.split(separator: "\n").first.map(String.init) ?? ""
        usleep(300_000)
        #expect(tracer.stop() == 0)

        let sshd = Self.mine(tracer, pid: renamed.pid)
        try #require(sshd.count == 2, "\(tracer.lines.suffix(5))")
        for event in sshd {
            #expect(event.path("process.name") as? String == "sshd")
            #expect(event.path("process.executable") as? String == bindgen)
            #expect(event.path("process.args") as? [String] == [Harness.bindgen.path, "--count", "2", "--quiet", "--comm-hex", "73736864"])
            #expect(event.path("process.args_count") as? Int == 6)
            #expect(event.path("bind.identity.source") as? String == "kernel")
            #expect(event.path("process.parent.pid") as? Int == Int(getpid()))
            #expect(event.path("process.parent.name") as? String == me.name)
            #expect(event.path("process.parent.entity_id") as? String == (try Self.entityID(pid: getpid(), startTicks: me.startTicks)))
        }
        #expect(sshd[0].path("process.entity_id") as? String == sshd[1].path("process.entity_id") as? String)

        let exited = Self.mine(tracer, pid: quick.pid)
        try #require(exited.count == 1)
        #expect(exited[0].path("process.executable") as? String == bindgen)
        #expect(exited[0].path("process.args") as? [String] == [Harness.bindgen.path, "--uid", "65534", "--count", "1", "--quiet", "--proto", "udp"])
        // Names from this host's own files, as the C library gives them.
        #expect(exited[0].path("process.user.name") as? String == getpwuid(65534).map { String(cString: $0.pointee.pw_name) })
        #expect(exited[0].path("process.group.name") as? String == getgrgid(65534).map { String(cString: $0.pointee.gr_name) })
        #expect(sshd[0].path("process.user.name") as? String == getpwuid(0).map { String(cString: $0.pointee.pw_name) })
        let start = try #require(Self.date(exited[0].path("process.start")), "\(exited[0])")
        let boundAt = try #require(Self.date(exited[0].path("@timestamp")))
        #expect(start <= boundAt && start >= started.addingTimeInterval(-1), "start \(start), bound \(boundAt)")
        #expect(exited[0].path("process.entity_id") as? String != sshd[0].path("process.entity_id") as? String)

        let execed = Self.mine(tracer, pid: python.pid)
        try #require(execed.count == 2, "\(execed)")
        #expect(execed[0].path("process.executable") as? String == pythonPath)
        #expect(execed[1].path("process.executable") as? String == bindgen)
        #expect(execed[1].path("process.args") as? [String] == [bindgen, "--count", "1", "--quiet"])
        #expect(execed[0].path("process.entity_id") as? String == execed[1].path("process.entity_id") as? String)
        #expect(execed[0].path("process.start") as? String == execed[1].path("process.start") as? String)
        try validateAgainstSchema(tracer.lines)
    }

    /// A script run by its interpreter; a program started through a symlink,
    /// from a path of more than 300 bytes, and from a directory whose name
    /// holds a space and a newline: each the real program, its arguments whole.
    @Test(.root) func interpretersSymlinksLongAndOddPaths() throws {
        let dir = Harness.temporaryFile("paths").path
        let long = dir + String(repeating: "/" + String(repeating: "p", count: 40), count: 8)
        let odd = dir + "/a b\nc"
        for path in [long, odd] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Harness.bindgen.path, toPath: "\(long)/bindgen")
        try FileManager.default.copyItem(atPath: Harness.bindgen.path, toPath: "\(odd)/bindgen")
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link", withDestinationPath: Harness.bindgen.path)
        try "import socket, sys\nsocket.socket().bind(('127.0.0.1', 0))\n".write(toFile: "\(dir)/x.py", atomically: true, encoding: .utf8)
        let python = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", "python3 -c 'import os, sys; print(os.path.realpath(sys.executable))'"])
        let interpreter = python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let tracer = try Tracer([])
        let script = try run(URL(fileURLWithPath: interpreter), ["\(dir)/x.py", "--flag"])
        let linked = try run(URL(fileURLWithPath: "\(dir)/link"), ["--count", "1", "--quiet"])
        let deep = try run(URL(fileURLWithPath: "\(long)/bindgen"), ["--count", "1", "--quiet"])
        let strange = try run(URL(fileURLWithPath: "\(odd)/bindgen"), ["--count", "1", "--quiet"])
        usleep(300_000)
        #expect(tracer.stop() == 0)

        let interpreted = try #require(Self.mine(tracer, pid: script.pid).first, "\(tracer.lines.suffix(3))")
        #expect(interpreted.path("process.executable") as? String == interpreter)
        #expect(interpreted.path("process.args") as? [String] == [interpreter, "\(dir)/x.py", "--flag"])
        #expect(Self.mine(tracer, pid: linked.pid).first?.path("process.executable") as? String == Harness.bindgen.resolvingSymlinksInPath().path)
        #expect(Self.mine(tracer, pid: linked.pid).first?.path("process.args") as? [String] == ["\(dir)/link", "--count", "1", "--quiet"])
        let deepEvent = try #require(Self.mine(tracer, pid: deep.pid).first)
        #expect(deepEvent.path("process.executable") as? String == "\(long)/bindgen" && "\(long)/bindgen".utf8.count > 300)
        #expect(deepEvent.path("bind.identity.truncated") == nil)
        #expect(Self.mine(tracer, pid: strange.pid).first?.path("process.executable") as? String == "\(odd)/bindgen")
        try validateAgainstSchema(tracer.lines)
    }

    /// Two processes that got the same pid one after the other (the pid
    /// forced with ns_last_pid): two entity ids, each its own program's start.
    @Test(.root) func aReusedPidIsAnotherProcess() throws {
        let tracer = try Tracer([])
        let first = try run(Harness.bindgen, ["--count", "1", "--quiet"])
        var second: Finished?
        for _ in 0..<50 {
            try "\(first.pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)
            let again = try run(Harness.bindgen, ["--count", "1", "--quiet", "--proto", "udp"])
            if again.pid == first.pid { second = again; break }
        }
        usleep(300_000)
        #expect(tracer.stop() == 0)
        let reused = try #require(second, "pid \(first.pid) was not given out again in 50 tries")
        let events = Self.mine(tracer, pid: reused.pid)
        try #require(events.count == 2, "\(events)")
        #expect(events[0].path("network.transport") as? String == "tcp" && events[1].path("network.transport") as? String == "udp")
        #expect(events[0].path("process.entity_id") as? String != events[1].path("process.entity_id") as? String)
        #expect(events[0].path("process.start") as? String != events[1].path("process.start") as? String)
        #expect(events[1].path("process.args") as? [String] == [Harness.bindgen.path, "--count", "1", "--quiet", "--proto", "udp"])
        #expect(events.allSatisfy { $0.path("bind.identity.source") as? String == "kernel" })
    }

    /// The entity id follows its recipe for a process alive when checked;
    /// arguments of any bytes stay valid JSON; an executable deleted since
    /// exec keeps its path and says so; a path deeper than 32 components is
    /// cut and says so.
    @Test(.root) func recipeHostileArgumentsDeletedAndDeepExecutables() throws {
        let dir = Harness.temporaryFile("identity").path
        let deep = dir + String(repeating: "/d", count: 40)
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Harness.bindgen.path, toPath: "\(dir)/doomed")
        try FileManager.default.copyItem(atPath: Harness.bindgen.path, toPath: "\(deep)/deep")
        let tracer = try Tracer([])

        var alive: (pid: Int32, ticks: UInt64)?
        let doomed = try run(URL(fileURLWithPath: "\(dir)/doomed"), ["--wait-stdin", "--count", "1", "--quiet"], input: "go\n") { pid in
            alive = (pid, try Self.stat(pid).startTicks)
            try FileManager.default.removeItem(atPath: "\(dir)/doomed")
        }
        let deepRun = try run(URL(fileURLWithPath: "\(deep)/deep"), ["--count", "1", "--quiet"])
        let hostile = ["a\"b\nc", "", "\u{7f}\\", "ünï", "--"]
        let python = try run(URL(fileURLWithPath: "/usr/bin/python3"),
                             ["-c", "import socket; socket.socket().bind(('127.0.0.1', 0))"] + hostile)
        let invalid = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec /usr/bin/python3 -c 'import socket; socket.socket().bind((\"127.0.0.1\", 0))' \"$(printf '\\377x')\""])
        usleep(300_000)
        #expect(tracer.stop() == 0)

        let deleted = try #require(Self.mine(tracer, pid: doomed.pid).first, "\(tracer.lines.suffix(3))")
        #expect(deleted.path("process.executable") as? String == "\(dir)/doomed")
        #expect(deleted.path("bind.identity.executable_deleted") as? Bool == true)
        let recorded = try #require(alive)
        #expect(deleted.path("process.entity_id") as? String == (try Self.entityID(pid: recorded.pid, startTicks: recorded.ticks)))

        let cut = try #require(Self.mine(tracer, pid: deepRun.pid).first)
        let path = try #require(cut.path("process.executable") as? String)
        #expect(path.hasSuffix(String(repeating: "/d", count: 31) + "/deep") && path.split(separator: "/").count == 32, "\(path)")
        #expect(cut.path("bind.identity.truncated") as? [String] == ["executable"])

        let args = try #require(Self.mine(tracer, pid: python.pid).first?.path("process.args") as? [String])
        #expect(Array(args.suffix(hostile.count)) == hostile)
        let replaced = try #require(Self.mine(tracer, pid: invalid.pid).first?.path("process.args") as? [String])
        #expect(replaced.last == "\u{FFFD}x")
        try validateAgainstSchema(tracer.lines)
    }
}
