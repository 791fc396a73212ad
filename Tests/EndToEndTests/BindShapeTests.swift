import Foundation
import Testing

/// Real binds of every shape, seen by one real tracer in this kernel's default mode.
@Suite(.serialized) struct BindShapeTests {
    struct Case {
        var name: String
        var arguments: [String]
        var check: ([String: Any], Finished) -> Void
    }

    static func port() -> Int { Int.random(in: 20_000...59_999) }

    @Test(.root) func everyShapeIsReportedAsBound() throws {
        let (p4, p6, u4, u6, mapped, inUse, low) = (Self.port(), Self.port(), Self.port(), Self.port(), Self.port(), Self.port(), 80)
        let cases: [Case] = [
            Case(name: "tcp4", arguments: ["--family", "4", "--proto", "tcp", "--addr", "127.0.0.1", "--port", "\(p4)"]) { e, _ in
                #expect(e.path("network.type") as? String == "ipv4")
                #expect(e.path("network.transport") as? String == "tcp")
                #expect(e.path("server.ip") as? String == "127.0.0.1")
                #expect(e.path("server.port") as? Int == p4)
                #expect(e.path("bind.requested.port") as? Int == p4)
                #expect(e.path("bind.socket_type") as? String == "stream")
            },
            Case(name: "udp4", arguments: ["--family", "4", "--proto", "udp", "--port", "\(u4)"]) { e, _ in
                #expect(e.path("network.transport") as? String == "udp")
                #expect(e.path("server.ip") as? String == "0.0.0.0")
                #expect(e.path("server.port") as? Int == u4)
            },
            Case(name: "tcp6", arguments: ["--family", "6", "--proto", "tcp", "--addr", "::1", "--port", "\(p6)"]) { e, _ in
                #expect(e.path("network.type") as? String == "ipv6")
                #expect(e.path("server.ip") as? String == "::1")
                #expect(e.path("server.port") as? Int == p6)
            },
            Case(name: "udp6", arguments: ["--family", "6", "--proto", "udp", "--port", "\(u6)"]) { e, _ in
                #expect(e.path("network.type") as? String == "ipv6")
                #expect(e.path("network.transport") as? String == "udp")
                #expect(e.path("server.ip") as? String == "::")
            },
            Case(name: "port 0 (tcp4)", arguments: ["--port", "0"]) { e, run in
                #expect(e.path("bind.requested.port") as? Int == 0)
                #expect(run.bindResults == ["ok \(e.path("server.port") as? Int ?? -1)"])
                #expect((e.path("server.port") as? Int ?? 0) > 0)
            },
            Case(name: "port 0 (udp6)", arguments: ["--family", "6", "--proto", "udp"]) { e, run in
                #expect(run.bindResults == ["ok \(e.path("server.port") as? Int ?? -1)"])
            },
            Case(name: "ipv4-mapped ipv6", arguments: ["--family", "6", "--addr", "::ffff:127.0.0.1", "--port", "\(mapped)"]) { e, _ in
                #expect(e.path("network.type") as? String == "ipv6")
                #expect(e.path("bind.requested.ip") as? String == "::ffff:127.0.0.1")
                #expect(e.path("server.ip") as? String == "::ffff:127.0.0.1")
            },
            Case(name: "EACCES", arguments: ["--uid", "65534", "--port", "\(low)"]) { e, run in
                #expect(run.bindResults == ["err 13"])
                #expect(e.path("event.outcome") as? String == "failure")
                #expect(e.path("error.code") as? String == "EACCES")
                #expect(e.path("bind.return_value") as? Int == -13)
                #expect(e.path("process.user.id") as? String == "65534")
                #expect(e.path("bind.requested.port") as? Int == low)
                #expect(e["server"] == nil)
            },
            Case(name: "SO_BINDTODEVICE lo", arguments: ["--device", "lo"]) { e, _ in
                #expect(e.path("bind.interface.index") as? Int == 1)
                #expect(e.path("bind.interface.name") as? String == "lo")
            },
        ] + ["freebind", "transparent", "reuseaddr", "reuseport"].map { option in
            Case(name: option, arguments: ["--opt", option, "--addr", "127.0.0.1"]) { e, _ in
                #expect(e.path("bind.options") as? [String] == [option], "\(option)")
            }
        } + [
            Case(name: "bind_address_no_port", arguments: ["--opt", "bind_address_no_port", "--addr", "127.0.0.1"]) { e, _ in
                #expect(e.path("bind.options") as? [String] == ["bind_address_no_port"])
                #expect(e.path("server.port") as? Int == 0, "the port is chosen at connect()")
            },
        ]

        let tracer = try Tracer([])
        var runs: [(Case, Finished)] = []
        for c in cases {
            runs.append((c, try run(Harness.bindgen, c.arguments)))
        }
        // EADDRINUSE: the second of two binds to one port while the first socket is open.
        let conflict = try run(Harness.bindgen, ["--port", "\(inUse)", "--count", "2", "--keep"])
        #expect(tracer.stop() == 0, "\(tracer.stderr.suffix(3000))")

        let events = tracer.events()
        for (c, result) in runs {
            let mine = events.filter { $0.path("process.pid") as? Int == Int(result.pid) && $0.path("event.action") as? String == "bind" }
            #expect(mine.count == 1, "\(c.name): \(mine.count) events for pid \(result.pid); bindgen said \(result.stdout) \(result.stderr)")
            guard let event = mine.first else { continue }
            #expect(event.path("process.name") as? String == "bindgen", "\(c.name)")
            #expect(event.path("event.action") as? String == "bind")
            if let probe = Harness.probe {
                #expect(event.path("bind.probe") as? String == probe)
            }
            if c.name != "EACCES" {
                #expect(event.path("event.outcome") as? String == "success", "\(c.name)")
            }
            c.check(event, result)
        }
        let conflictEvents = events.filter { $0.path("process.pid") as? Int == Int(conflict.pid) && $0.path("event.action") as? String == "bind" }
        #expect(conflict.bindResults == ["ok \(inUse)", "err 98"])
        #expect(conflictEvents.map { $0.path("event.outcome") as? String } == ["success", "failure"])
        #expect(conflictEvents.last?.path("error.code") as? String == "EADDRINUSE")

        let sequences = events.compactMap { $0.path("event.sequence") as? Int }
        #expect(sequences == Array(1...max(sequences.count, 1)).prefix(sequences.count).map { $0 })
        try validateAgainstSchema(tracer.lines)
    }

    @Test(.root) func hostileProcessNamesStayValidJSON() throws {
        let tracer = try Tracer([])
        // "A\<newline>, 0x01, invalid UTF-8 0xFF, an encoded surrogate, then é
        let hostile = try run(Harness.bindgen, ["--comm-hex", "22415c0a01ffeda080c3a9"])
        #expect(tracer.stop() == 0, "\(tracer.stderr.suffix(3000))")
        let mine = tracer.events().filter { $0.path("process.pid") as? Int == Int(hostile.pid) && $0.path("event.action") as? String == "bind" }
        #expect(mine.count == 1)
        #expect(mine.first?.path("process.name") as? String == "\"A\\\n\u{01}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}é")
        try validateAgainstSchema(tracer.lines)
    }

    /// IORING_OP_BIND (Linux 6.11+) reaches inet_bind without the bind system
    /// call: fentry and kprobe see it; the tracepoint mode only through the
    /// cgroup hooks beside it, where the kernel allows them.
    @Test(.root) func ioUringBindVisibility() throws {
        let tracer = try Tracer([])
        let submitted = try run(Harness.bindgen, ["--io-uring", "--port", "0"])
        #expect(tracer.stop() == 0, "\(tracer.stderr.suffix(3000))")
        guard submitted.bindResults.first?.hasPrefix("ok") == true else {
            // EINVAL: this kernel has no IORING_OP_BIND; nothing to observe.
            #expect(submitted.bindResults == ["err 22"], "\(submitted.stdout)\(submitted.stderr)")
            print("io_uring bind: IORING_OP_BIND not supported by this kernel")
            return
        }
        let mode = try #require(["fentry", "kprobe", "tracepoint"].first { tracer.stderr.contains("in \($0) mode") })
        let mine = tracer.events().filter { $0.path("process.pid") as? Int == Int(submitted.pid) && $0.path("event.action") as? String == "bind" }
        print("io_uring bind: \(mine.count) event(s) in \(mode) mode")
        if mode == "tracepoint" && !tracer.stderr.contains("cgroup_bind4") {
            #expect(mine.isEmpty, "the tracepoint mode alone cannot see io_uring binds; the README says so")
        } else {
            #expect(mine.count == 1, "\(mode) must see the io_uring bind")
            #expect(submitted.bindResults == ["ok \(mine.first?.path("server.port") as? Int ?? -1)"])
        }
        try validateAgainstSchema(tracer.lines)
    }
}
