import Foundation
import Testing

/// `--probe cgroup`: the cgroup socket-address hooks at the cgroup v2 root.
/// They run inside inet_bind whatever led there, so io_uring and 32-bit
/// binds are reported; a failed bind is "requested, never bound" (no errno).
/// The tracepoint mode runs the same hooks beside it for what skips bind(2).
@Suite(.serialized) struct CgroupModeTests {
    static func port() -> Int { Int.random(in: 20_000...59_999) }

    /// The bind lines of `run`'s process (not its sockets' release lines).
    func mine(_ events: [[String: Any]], _ run: Finished) -> [[String: Any]] {
        events.filter { $0.path("process.pid") as? Int == Int(run.pid) && $0.path("event.action") as? String == "bind" }
    }

    /// Success and failure, through bind(2), io_uring and a 32-bit program,
    /// each reported exactly once: in cgroup mode, and in tracepoint mode
    /// (bind(2) by the tracepoint with its errno, the others by the hooks).
    @Test(.root, arguments: ["cgroup", "tracepoint"]) func everyPathIsReportedOnce(mode: String) throws {
        let (plain, uring, compat) = (Self.port(), Self.port(), Self.port())
        let bind32 = try buildBind32()
        let tracer = try Tracer(["--probe", mode])
        if mode == "tracepoint" {
            // The kernel matrix says what the kernel allows (Tests/tools/kernel-allows.c); 6.1+ does.
            guard TestEnvironment.hooksBesideTracepoint else {
                #expect(tracer.stop() == 0)
                #expect(tracer.stderr.contains("tracepoint mode without the cgroup hooks"), "\(tracer.stderr)")
                print("cgroup hooks beside the tracepoint: not on this kernel, and bindsnoop says so")
                return
            }
            try #require(tracer.stderr.contains("cgroup_bind4"), "this kernel runs the cgroup hooks beside the tracepoint: \(tracer.stderr)")
        }
        let conflict = try run(Harness.bindgen, ["--port", "\(plain)", "--count", "2", "--keep"])
        let submitted = try run(Harness.bindgen, ["--io-uring", "--port", "\(uring)", "--count", "2", "--keep"])
        let thirtyTwo = try run(bind32, ["\(compat)"])
        let v6 = try run(Harness.bindgen, ["--family", "6", "--proto", "udp", "--addr", "::1"])
        #expect(tracer.stop() == 0)
        #expect(tracer.stderr.contains("in \(mode) mode"))

        let events = tracer.events()
        #expect(conflict.bindResults == ["ok \(plain)", "err 98"])
        let plainEvents = mine(events, conflict)
        #expect(plainEvents.map { $0.path("event.outcome") as? String } == ["success", "failure"])
        #expect(plainEvents.first?.path("server.port") as? Int == plain)
        #expect(plainEvents.first?.path("bind.return_value") as? Int == 0)
        #expect(plainEvents.last?.path("bind.requested.port") as? Int == plain)
        #expect(plainEvents.allSatisfy { $0.path("bind.probe") as? String == mode })
        if mode == "cgroup" {
            #expect(plainEvents.last?["error"] == nil, "cgroup mode never sees the errno: no error.code")
            #expect(plainEvents.last?.path("bind.return_value") == nil)
        } else {
            #expect(plainEvents.last?.path("error.code") as? String == "EADDRINUSE")
        }

        if submitted.bindResults.first?.hasPrefix("ok") == true {
            #expect(submitted.bindResults == ["ok \(uring)", "err 98"])
            #expect(mine(events, submitted).map { $0.path("event.outcome") as? String } == ["success", "failure"],
                    "io_uring binds, once each")
            #expect(mine(events, submitted).allSatisfy { $0.path("bind.probe") as? String == "cgroup" })
            #expect(mine(events, submitted).allSatisfy { $0.path("process.executable") as? String == Harness.bindgen.resolvingSymlinksInPath().path })
        } else {
            print("cgroup mode: IORING_OP_BIND not supported by this kernel (\(submitted.bindResults))")
        }

        #expect(thirtyTwo.bindResults == ["ok \(compat)", "err 98"], "\(thirtyTwo.stdout)\(thirtyTwo.stderr)")
        let compatEvents = mine(events, thirtyTwo)
        #expect(compatEvents.map { $0.path("event.outcome") as? String } == ["success", "failure"], "32-bit binds, once each")
        #expect(compatEvents.first?.path("server.ip") as? String == "127.0.0.1")
        #expect(compatEvents.allSatisfy { $0.path("bind.probe") as? String == "cgroup" })
        // The process identity, read by the cgroup hooks too (issue 22).
        #expect(compatEvents.allSatisfy { $0.path("process.executable") as? String == bind32.resolvingSymlinksInPath().path },
                "\(compatEvents.first ?? [:])")
        #expect(compatEvents.allSatisfy { ($0.path("process.args") as? [String])?.last == "\(compat)" })

        let v6Events = mine(events, v6)
        #expect(v6Events.count == 1)
        #expect(v6Events.first?.path("bind.probe") as? String == mode)
        #expect(v6Events.first?.path("server.ip") as? String == "::1")
        #expect(v6Events.first?.path("network.transport") as? String == "udp")
        #expect((v6Events.first?.path("server.port") as? Int ?? 0) > 0)

        // Each successful bind's socket, bound by whichever path, is released
        // once (at the binder's exit), with its socket id.
        let releases = events.filter { $0.path("event.action") as? String == "release" }
        var released = 0
        for run in [conflict, submitted, thirtyTwo, v6] {
            for bind in mine(events, run) where bind.path("event.outcome") as? String == "success" {
                let id = bind.path("bind.socket_id") as? Int
                #expect(id != nil, "every bind line has its socket id: \(bind)")
                #expect(releases.filter { $0.path("bind.socket_id") as? Int == id }.count == 1, "released once: \(bind)")
                released += 1
            }
        }
        #expect(released >= 3, "bind(2), 32-bit and IPv6 binds at least")

        let sequences = events.compactMap { $0.path("event.sequence") as? Int }
        #expect(sequences == Array(1...max(sequences.count, 1)).prefix(sequences.count).map { $0 })
        try validateAgainstSchema(tracer.lines)
    }

    /// A port-0 bind under IP_BIND_ADDRESS_NO_PORT runs no post-bind hook
    /// whether or not it succeeds: reported once, outcome unknown.
    @Test(.root) func deferredPortIsUnknown() throws {
        let tracer = try Tracer(["--probe", "cgroup"])
        let deferred = try run(Harness.bindgen, ["--opt", "bind_address_no_port", "--addr", "127.0.0.1"])
        #expect(tracer.stop() == 0)
        let events = mine(tracer.events(), deferred)
        #expect(events.count == 1)
        #expect(events.first?.path("event.outcome") as? String == "unknown")
        #expect(events.first?.path("bind.options") as? [String] == ["bind_address_no_port"])
        try validateAgainstSchema(tracer.lines)
    }

    /// After `--user`, the success comes from the ring buffer and the failure
    /// from the sweep of the requests table: both still reported, or (kernels
    /// before 6.5 refuse map reads without privileges) a warning says failures
    /// cannot be.
    @Test(.root) func dropsPrivilegesAndStillReportsBoth() throws {
        let port = Self.port()
        let tracer = try Tracer(["--probe", "cgroup", "--user", "nobody"])
        let uid = (try? String(contentsOfFile: "/proc/\(tracer.process.processIdentifier)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("Uid:") }
        let binds = try run(Harness.bindgen, ["--port", "\(port)", "--count", "2", "--keep"])
        usleep(300_000)
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        #expect(uid?.split(separator: "\t").dropFirst().allSatisfy { $0 == "65534" } == true, "\(uid ?? "no status")")
        #expect(binds.bindResults == ["ok \(port)", "err 98"])
        let outcomes = mine(tracer.events(), binds).map { $0.path("event.outcome") as? String }
        if tracer.stderr.contains("cannot be reported after dropping privileges") {
            #expect(outcomes == ["success"])
            print("cgroup mode after --user: this kernel refuses map reads unprivileged; failures are not reported, and bindsnoop says so")
        } else {
            #expect(outcomes == ["success", "failure"])
        }
        try validateAgainstSchema(tracer.lines)
    }

    /// The pid, port and outcome filters apply in the kernel programs.
    @Test(.root) func filtersApply() throws {
        let (a, b) = (Self.port(), Self.port())
        let byPort = try Tracer(["--probe", "cgroup", "-P", "\(a)"])
        let wanted = try run(Harness.bindgen, ["--port", "\(a)", "--count", "2", "--keep"])
        let other = try run(Harness.bindgen, ["--port", "\(b)", "--count", "2", "--keep"])
        #expect(byPort.stop() == 0)
        let portEvents = byPort.events()
        #expect(mine(portEvents, wanted).count == 2, "success and failure on the filtered port")
        #expect(mine(portEvents, other).isEmpty)

        let failures = try Tracer(["--probe", "cgroup", "--outcome", "failure"])
        let mixed = try run(Harness.bindgen, ["--port", "\(Self.port())", "--count", "2", "--keep"])
        #expect(failures.stop() == 0)
        #expect(mine(failures.events(), mixed).map { $0.path("event.outcome") as? String } == ["failure"])

        let byPid = try Tracer(["--probe", "cgroup", "--pid", "1"])
        let unseen = try run(Harness.bindgen, ["--port", "0"])
        #expect(byPid.stop() == 0)
        #expect(mine(byPid.events(), unseen).isEmpty)
    }

    /// Tests/tools/bind32.c, built as a 32-bit program (gcc-multilib).
    func buildBind32() throws -> URL {
        try buildTool("bind32.c", flags: ["-m32"], needs: "gcc-multilib")
    }
}
