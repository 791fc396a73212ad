import BindsnoopCore
import Foundation
import Testing

/// The command line's contract: exit codes, one-line errors, stopping by itself.
@Suite(.serialized) struct CommandLineTests {
    private func expectOneLineError(_ result: Finished, status: Int32, mentioning text: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got:\n\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        (["--port", "70000"], "--port"),
        (["--pid", "-5"], "pid"),
        (["--pid", "0"], "--pid"),
        (["--uid", "abc"], "uid"),
        (["--outcome", "maybe"], "outcome"),
        (["--probe", "uprobe"], "probe"),
        (["--no-such-flag"], "no-such-flag"),
        (["--ring-buffer-size", "3000"], "--ring-buffer-size"),
        (["--duration", "-1"], "duration"),
        (["-t"], "table"),
    ])
    func badInputIsOneLineAndExit64(arguments: [String], mentioning: String) throws {
        expectOneLineError(try run(Harness.bindsnoop, arguments), status: 64, mentioning: mentioning)
    }

    /// Every flag that takes a value refuses one it cannot use, in one line
    /// naming the flag, exit 64 (a value no check takes is caught: a flag
    /// missing from its option group's values would load silently).
    @Test func everyValueFlagRefusesABadValue() throws {
        let flags = ConfigKeys.all.filter { $0.valueName != nil }.compactMap(\.flagName)
        #expect(flags.count >= 12, "\(flags)")
        for flag in flags {
            // --cgroup's path is checked where the kernel filter is filled: after load, as root.
            if flag == "--cgroup" && !Harness.isRoot { continue }
            // A run that takes the value stops by itself (the last --duration wins: none for --duration).
            let result = try run(Harness.bindsnoop, [flag, "!"] + (flag == "--duration" ? [] : ["--duration", "0.5"]))
            expectOneLineError(result, status: 64, mentioning: flag)
        }
    }

    @Test func helpGoesToStdoutWithExitCodes() throws {
        let help = try run(Harness.bindsnoop, ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--outcome"))
        #expect(help.stdout.contains("Exit codes"))
    }

    /// The manual documents every option --help lists, and renders cleanly.
    @Test func manualCoversEveryOption() throws {
        let help = try run(Harness.bindsnoop, ["--help"]).stdout
        let manual = try String(contentsOf: Harness.packageDirectory.appending(path: "docs/bindsnoop.8"), encoding: .utf8)
        let options = Set(help.split(whereSeparator: { " ,\n".contains($0) }).filter { $0.hasPrefix("-") && $0.count > 1 }
            .map { String($0.prefix { $0 != "<" && $0 != "[" }) })
        #expect(options.count > 15)
        for option in options {
            #expect(manual.contains(option.replacingOccurrences(of: "-", with: "\\-")), "docs/bindsnoop.8 lacks \(option)")
        }
        for code in ["64", "69", "70", "71", "74", "77", "78"] {
            #expect(manual.contains(".B \(code)\n"), "exit code \(code) undocumented")
        }
        let groff = try run(URL(fileURLWithPath: "/usr/bin/groff"), ["-man", "-ww", "-z", Harness.packageDirectory.appending(path: "docs/bindsnoop.8").path])
        #expect(groff.status == 0 && groff.stderr.isEmpty, "groff: \(groff.stderr)")
    }

    @Test(.root("needs root to switch to an unprivileged user")) func unprivilegedUserIsTold() throws {
        let result = try run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                             ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                              Harness.bindsnoop.path, "--duration", "1"])
        expectOneLineError(result, status: 77, mentioning: "CAP_BPF")
    }

    @Test(.root, arguments: ["fentry", "kprobe", "tracepoint"])
    func eachModeAttachesOrSaysWhyNot(mode: String) throws {
        let result = try run(Harness.bindsnoop, ["--probe", mode, "--duration", "0.5"])
        if result.status == 0 {
            #expect(result.stderr.contains("attached"))
            #expect(result.stderr.contains("\(mode) mode"))
        } else {
            expectOneLineError(result, status: 69, mentioning: "--probe \(mode)")
        }
    }

    @Test(.root) func autoChoosesTheFirstModeThatWorks() throws {
        let results = try ["fentry", "kprobe", "tracepoint"].map { try run(Harness.bindsnoop, ["--probe", $0, "--duration", "0.3"]) }
        let firstWorking = ["fentry", "kprobe", "tracepoint"][try #require(results.firstIndex { $0.status == 0 })]
        let auto = try run(Harness.bindsnoop, ["--duration", "0.3"])
        #expect(auto.status == 0)
        #expect(auto.stderr.contains("attached: tracing bind() in \(firstWorking) mode"), "\(auto.stderr)")
        if let expected = Harness.expectedAutoMode {
            #expect(firstWorking == expected, "auto chose \(firstWorking) on this kernel")
        }
    }

    /// The two stderr lines scripts and tests read (StatusLine, scripts/lib.sh): every field, parsed whole.
    @Test(.root) func attachedAndStoppedLinesCarryTheirFields() throws {
        let tracer = try Tracer(["--max-events", "1"])
        _ = try run(Harness.bindgen, ["--count", "1", "--quiet"])
        #expect(tracer.waitForExit() == 0)
        let attached = try #require(StatusLine.attached(in: tracer.stderr), "\(tracer.stderr)")
        #expect(Set(attached.fields.keys) == Set(["live_after_ms", "metrics", "mode", "outputs", "programs", "run"]), "\(attached.fields)")
        #expect(attached["run"]?.utf8.count == 24, "the run id: 96 bits in hex")
        let mode = try #require(attached["mode"])
        #expect(tracer.stderr.contains("attached: tracing bind() in \(mode) mode"))
        #expect(attached["programs"]?.split(separator: ",").isEmpty == false)
        #expect(attached["outputs"] == "stdout" && attached["metrics"] == "off")
        #expect(attached.int("live_after_ms") != nil)
        let stopped = try #require(StatusLine.stopped(in: tracer.stderr), "\(tracer.stderr)")
        #expect(Set(stopped.fields.keys) == Set(["events", "lost", "malformed", "rate_limited", "reason", "dropped", "dropped_by_output"]),
                "\(stopped.fields)")
        #expect(stopped.int("events") == 1 && stopped.int("lost") == 0 && stopped.int("malformed") == 0)
        #expect(stopped.int("dropped") == 0 && stopped["dropped_by_output"] == "stdout:0")
        #expect(stopped["reason"] == "max-events")
    }

    @Test(.root) func maxEventsStopsByItself() throws {
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "10"], input: "go\n") { pid in
            tracer = try Tracer(["--pid", "\(pid)", "--max-events", "3"])
        }
        #expect(load.bindResults.count == 10)
        let t = try #require(tracer)
        #expect(t.waitForExit(timeout: 10) == 0)
        #expect(t.lines.count == 3)
        #expect(t.stderr.contains("reason=max-events"))
    }

    @Test(.root) func durationStopsByItself() throws {
        let start = Date()
        let result = try run(Harness.bindsnoop, ["--duration", "1"])
        #expect(result.status == 0)
        #expect(Date().timeIntervalSince(start) < 15)
        #expect(result.stderr.contains("reason=duration"))
    }

    @Test(.root) func sigtermDrainsAndExitsZero() throws {
        let tracer = try Tracer([])
        let load = try run(Harness.bindgen, ["--count", "200", "--quiet", "--summary"])
        #expect(tracer.stop(signal: SIGTERM) == 0)
        let mine = tracer.events().filter { $0.path("process.pid") as? Int == Int(load.pid) && $0.path("event.action") as? String == "bind" }
        #expect(mine.count == 200)
    }

    @Test(.root) func closedStdoutEndsQuietly() throws {
        let script = """
            "$0" 2>"$1" | head -n 1 >/dev/null
            echo "${PIPESTATUS[0]}"
            """
        let errors = Harness.temporaryFile("stderr")
        defer { try? FileManager.default.removeItem(at: errors) }
        let pipeline = Process()
        pipeline.executableURL = URL(fileURLWithPath: "/bin/bash")
        pipeline.arguments = ["-c", script, Harness.bindsnoop.path, errors.path]
        let out = Pipe()
        pipeline.standardOutput = out
        try pipeline.runUnmasked()
        for _ in 0..<200 where pipeline.isRunning {
            _ = try run(Harness.bindgen, ["--count", "20", "--quiet"])
            usleep(50_000)
        }
        let status = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        pipeline.waitUntilExit()
        #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        #expect(!stderr.contains("error"), "\(stderr)")
        #expect(stderr.contains("reason=reader-gone"), "\(stderr)")
    }

    @Test(.root) func tableFormat() throws {
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--port", "0"], input: "go\n") { pid in
            tracer = try Tracer(["--format", "table", "-t", "-U", "--pid", "\(pid)"])
        }
        let t = try #require(tracer)
        #expect(t.stop() == 0)
        let lines = t.lines
        #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) ==
            ["TIME", "UID", "PID", "COMM", "RET", "PROT", "ADDR", "PORT", "OPTS", "IF"])
        let row = lines.dropFirst().first?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) ?? []
        let port = load.bindResults.first?.split(separator: " ").last.map(String.init)
        #expect(row.count == 10)
        #expect(row.dropFirst().prefix(3) == ["0", "\(load.pid)", "bindgen"])
        #expect(row.dropFirst(4).prefix(4) == ["0", "TCP", "0.0.0.0", port ?? "?"])
    }

    @Test(.root) func notifiesSystemdWhenAttached() throws {
        let path = Harness.temporaryFile("notify.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        let process = Process()
        process.executableURL = Harness.bindsnoop
        process.arguments = ["--duration", "1"]
        process.environment = ["NOTIFY_SOCKET": path]
        process.standardError = FileHandle.nullDevice
        try process.runUnmasked()
        var buffer = [UInt8](repeating: 0, count: 64)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let n = recv(fd, &buffer, buffer.count, 0)
        process.waitUntilExit()
        #expect(n > 0 && String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self) == "READY=1")
    }
}
