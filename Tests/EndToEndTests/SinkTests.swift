import Foundation
import Testing

/// The file and Unix-socket outputs with real components: the real tracer,
/// real binds, the `zstd` CLI, and a real syslog-ng restarted mid-stream.
@Suite(.serialized) struct SinkTests {
    private func directory() throws -> String {
        let path = Harness.temporaryFile("sink")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o750])
        return path.path
    }

    private func config(_ yaml: String, in directory: String) throws -> String {
        let path = "\(directory)/bindsnoop.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every rotated file, oldest first (a .zst decompressed, one left plain
    /// for tailers read as it is), followed by the active file.
    private func readAll(_ directory: String, active: String = "bind.ndjson") throws -> [String] {
        var text = ""
        let stem = active.split(separator: ".")[0]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where name.hasPrefix("\(stem)-") {
            if name.hasSuffix(".zst") {
                let out = try run(URL(fileURLWithPath: "/usr/bin/zstd"), ["-dc", "\(directory)/\(name)"])
                #expect(out.status == 0, "zstd -d \(name): \(out.stderr)")
                text += out.stdout
            } else if !name.hasSuffix(".tmp") {
                text += try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
            }
        }
        text += (try? String(contentsOfFile: "\(directory)/\(active)", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// A syslog-ng listening in `mode` (stream or datagram), and bindsnoop
    /// sending to it and nowhere else.
    private func tracerSendingToSyslogNg(mode: String, buffer: String, in dir: String) throws -> (SyslogNg, Tracer) {
        let syslog = try SyslogNg(directory: dir, mode: mode)
        do {
            let file = try config("""
                sinks:
                  stdout: {enabled: false}
                  unix: {path: \(syslog.socketPath), mode: \(mode), buffer: \(buffer)}
                """, in: dir)
            return (syslog, try Tracer(["--config", file]))
        } catch {
            syslog.stop()
            throw error
        }
    }

    /// The kernel loss in the `stopped` line.
    private func summaryLost(_ stderr: String) -> Int? {
        guard let stopped = stderr.split(separator: "\n").last(where: { $0.contains("stopped") }),
              let range = stopped.range(of: #"lost=(\d+)"#, options: .regularExpression) else { return nil }
        return Int(stopped[range].dropFirst("lost=".count))
    }

    private func summaryEvents(_ stderr: String) -> Int? {
        guard let range = stderr.range(of: #"events=(\d+)"#, options: .regularExpression) else { return nil }
        return Int(stderr[range].dropFirst("events=".count))
    }

    @Test(.root) func rotationUnderLoadKeepsEveryEventOnceInOrder() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try config("""
            sinks:
              file: {path: \(dir)/logs/bind.ndjson, max_size: 32KiB, max_files: 1000, compress_after: 1ms}
            """, in: dir)
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "1500", "--threads", "2", "--quiet"], input: "go\n") { pid in
            tracer = try Tracer(["--config", file, "--pid", "\(pid)"])
        }
        let t = try #require(tracer)
        #expect(t.stop() == 0)
        #expect(t.lines.isEmpty, "stdout is off when a file sink is configured")
        let lines = try readAll("\(dir)/logs")
        let segments = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/logs").filter { $0.hasSuffix(".ndjson.zst") }
        #expect(segments.count >= 5, "\(segments.count) segments")
        let sequences = lines.compactMap { line -> Int? in
            let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(event?.path("process.pid") as? Int == Int(load.pid))
            return event?.path("event.sequence") as? Int
        }
        #expect(sequences == Array(1...3000), "3000 binds, each once, in order")
        try validateAgainstSchema(lines)
    }

    /// BCC's table to a file: the header is the file's first line.
    @Test(.root) func tableToAFileStartsWithItsHeader() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try config("sinks:\n  file: {path: \(dir)/logs/bind.txt}\n", in: dir)
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "2", "--quiet"], input: "go\n") { pid in
            tracer = try Tracer(["--config", file, "--format", "table", "--pid", "\(pid)"])
        }
        let t = try #require(tracer)
        #expect(t.stop() == 0 && load.status == 0)
        let rows = try String(contentsOfFile: "\(dir)/logs/bind.txt", encoding: .utf8).split(separator: "\n")
        #expect(rows.first?.split(separator: " ", omittingEmptySubsequences: true) ==
            ["PID", "COMM", "RET", "PROT", "ADDR", "PORT", "OPTS", "IF"], "\(rows)")
        #expect(rows.dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) } ==
            ["\(load.pid)", "\(load.pid)"], "\(rows)")
    }

    @Test(.root) func killNineLeavesCompleteLinesAndValidArchives() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logs = "\(dir)/logs"
        let file = try config("""
            sinks:
              file: {path: \(logs)/bind.ndjson, max_size: 256KiB, max_files: 1000, level: 19, compress_after: 1ms}
            """, in: dir)
        for round in 0..<4 {
            let tracer = try Tracer(["--config", file])
            let load = Process()
            load.executableURL = Harness.bindgen
            load.arguments = ["--count", "3000", "--quiet"]  // bounds the compression backlog the restart must clear
            try load.runUnmasked()
            usleep(UInt32.random(in: 200_000...900_000))  // mid-write, mid-rotation, mid-compression
            kill(tracer.process.processIdentifier, SIGKILL)
            _ = tracer.waitForExit()
            load.terminate()
            load.waitUntilExit()

            let active = (try? Data(contentsOf: URL(fileURLWithPath: "\(logs)/bind.ndjson"))) ?? Data()
            #expect(active.isEmpty || active.last == UInt8(ascii: "\n"), "round \(round): partial line in the active file")
            for name in try FileManager.default.contentsOfDirectory(atPath: logs) where name.hasSuffix(".zst") {
                let check = try run(URL(fileURLWithPath: "/usr/bin/zstd"), ["-tq", "\(logs)/\(name)"])
                #expect(check.status == 0, "round \(round): \(name) fails zstd -t: \(check.stderr)")
            }
        }
        // The next start removes partial archives and compresses what the
        // kills left plain, but for the newest rotated file: a tailer may be
        // reading it, and it stays plain until the next rotation.
        let restarted = try Tracer(["--config", file])
        let deadline = Date().addingTimeInterval(180)  // level 19 on a loaded 2-core machine is slow
        func leftovers() -> [String] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []).sorted()
            let newestRotated = names.last { $0.hasPrefix("bind-") && !$0.hasSuffix(".tmp") }
            return names.filter {
                $0 != "bind.ndjson" && $0 != ".bind.ndjson.lock" && !$0.hasSuffix(".zst") && !($0 == newestRotated && $0.hasSuffix(".ndjson"))
            }
        }
        while !leftovers().isEmpty && Date() < deadline { usleep(100_000) }
        #expect(restarted.stop() == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: logs)
        #expect(!names.contains { $0.hasSuffix(".tmp") }, "\(names)")
        #expect(leftovers().isEmpty, "\(leftovers().prefix(5))")
        let lines = try readAll(logs)
        #expect(lines.count > 100)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "broken line: \(line.prefix(120))")
        }
    }

    @Test(.root, arguments: ["stream", "datagram"])
    func syslogNgRestartsLoseNothingSilently(mode: String) throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (syslog, tracer) = try tracerSendingToSyslogNg(mode: mode, buffer: "256KiB", in: dir)
        defer { syslog.stop() }
        for round in 1...12 {
            _ = try run(Harness.bindgen, ["--count", "100", "--quiet"])
            usleep(100_000)
            if round % 3 == 0 { try syslog.restart() }
        }
        _ = try run(Harness.bindgen, ["--count", "100", "--quiet"])
        #expect(tracer.stop(signal: SIGTERM) == 0)
        let emitted = try #require(summaryEvents(tracer.stderr), "\(tracer.stderr)")
        syslog.stop()

        let lines = try String(contentsOfFile: syslog.outputPath, encoding: .utf8).split(separator: "\n").map(String.init)
        var received = Set<Int>()
        var lost = Set<Int>()
        for line in lines {
            let event = try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                                     "broken line from syslog-ng: \(line.prefix(200))")
            if let sequence = event.path("event.sequence") as? Int { received.insert(sequence) }
            if let first = event.path("bind.lost.first_sequence") as? Int, let last = event.path("bind.lost.last_sequence") as? Int {
                lost.formUnion(first...last)
            }
        }
        let missing = Set(1...emitted).subtracting(received).subtracting(lost)
        #expect(emitted >= 1300)
        #expect(missing.isEmpty, "\(missing.count) of \(emitted) events neither received nor reported lost: \(Array(missing.sorted().prefix(20)))")
        try validateAgainstSchema(lines)
    }

    /// Issue 13's check: syslog-ng stopped and started again 10 times (0.5 to
    /// 2 s down) during a paced storm of more than 50 000 binds. Graceful
    /// stops: every event arrives (or is reported lost in-band), with at most
    /// 1% sent twice, and no broken line. kill -9: figures only, for the
    /// README (a receiver killed mid-stream loses what it had read but not
    /// written, which no sender can know). Datagrams: the same, one per event.
    @Test(.root, arguments: [("stream", false), ("stream", true), ("datagram", false)])
    func syslogNgRestartedTenTimesDuringAStorm(mode: String, killNine: Bool) throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (syslog, tracer) = try tracerSendingToSyslogNg(mode: mode, buffer: "64MiB", in: dir)
        defer { syslog.stop() }
        var made = 0
        func binds(_ count: Int) throws {
            _ = try run(Harness.bindgen, ["--count", "\(count)", "--quiet"])
            made += count
        }
        for restart in 0..<10 {
            for _ in 0..<10 {
                try binds(500)
                usleep(40_000)
            }
            if killNine { syslog.kill() } else { syslog.stop() }
            let until = Date().addingTimeInterval(0.5 + 1.5 * Double(restart) / 9)
            while Date() < until {
                try binds(200)
                usleep(40_000)
            }
            try syslog.start()
        }
        try binds(500)
        usleep(500_000)
        #expect(tracer.stop(signal: SIGTERM) == 0, "\(tracer.stderr)")
        let emitted = try #require(summaryEvents(tracer.stderr), "\(tracer.stderr)")
        syslog.stop()

        let text = try String(contentsOfFile: syslog.outputPath, encoding: .utf8)
        var copies: [Int: Int] = [:]
        var lost = Set<Int>()
        var broken = 0
        for line in text.split(separator: "\n") {
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                broken += 1
                continue
            }
            if let sequence = event.path("event.sequence") as? Int { copies[sequence, default: 0] += 1 }
            if let first = event.path("bind.lost.first_sequence") as? Int, let last = event.path("bind.lost.last_sequence") as? Int {
                lost.formUnion(first...last)
            }
        }
        let duplicates = copies.values.reduce(0) { $0 + $1 - 1 }
        let missing = Set(1...emitted).subtracting(copies.keys).subtracting(lost)
        print(String(format: "syslog-ng %@ %@ x10: %d binds made, %d events emitted, %d received, %d duplicates (%.2f%%), %d missing, %d reported lost, %d broken lines",
                     mode, killNine ? "kill -9" : "graceful restarts", made, emitted, copies.count, duplicates,
                     100 * Double(duplicates) / Double(emitted), missing.count, lost.count, broken))
        #expect(made >= 50_000)
        #expect(emitted >= made)
        guard !killNine else { return }
        #expect(broken == 0)
        #expect(missing.isEmpty, "\(missing.count) of \(emitted) events neither received nor reported lost: \(Array(missing.sorted().prefix(20)))")
        #expect(duplicates * 100 <= emitted, "more than 1% sent twice")
    }

    /// A forwarder that accepts and never reads: at SIGTERM bindsnoop waits
    /// `drain_timeout`, not longer, and names what it abandons.
    @Test(.root) func shutdownDrainIsBoundedAndNamesWhatItAbandons() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = "\(dir)/silent.sock"
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["-c", "import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); c = s.accept(); time.sleep(60)", socket]
        try listener.runUnmasked()
        defer { listener.terminate() }
        while !FileManager.default.fileExists(atPath: socket) { usleep(10_000) }
        let file = try config("""
            sinks:
              stdout: {enabled: false}
              unix: {path: \(socket), mode: stream, drain_timeout: 1s}
            """, in: dir)
        let tracer = try Tracer(["--config", file])
        _ = try run(Harness.bindgen, ["--count", "2000", "--quiet"])
        usleep(300_000)
        let stopping = Date()
        #expect(tracer.stop(signal: SIGTERM) == 0, "\(tracer.stderr)")
        let took = Date().timeIntervalSince(stopping)
        #expect(took >= 1 && took < 3, "drain_timeout 1s, stopped after \(took) s")
        let warning = try #require(tracer.stderr.split(separator: "\n").first { $0.contains("not confirmed read by the forwarder") },
                                   "\(tracer.stderr)")
        #expect(warning.contains("first_sequence=") && warning.contains("last_sequence="), "\(warning)")
        let abandoned = warning.split(separator: " ").first { $0.hasPrefix("events=") }.flatMap { Int($0.dropFirst(7)) }
        #expect((abandoned ?? 0) > 0, "\(warning)")
        print("shutdown with a forwarder that never reads: \(abandoned ?? 0) events abandoned after \(String(format: "%.2f", took)) s: \(warning)")
    }

    /// Issue 13's check: forwarders that tail the files get every event
    /// exactly once across rotations (a 100 000-bind storm, max_size 4MiB:
    /// more than 10 rotations), set up as the README tells: coreutils'
    /// `tail -F` on the active file (rotation: rename), syslog-ng's
    /// wildcard-file() on `bind-*.ndjson` (rotation: new-file). syslog-ng on
    /// the renamed active file: figures only (3.38 drops a renamed file's
    /// unread end, whenever it is compressed).
    @Test(.root, arguments: [("tail -F", "rename"), ("syslog-ng", "new-file"), ("syslog-ng", "rename")])
    func tailersGetEveryEventOnceAcrossRotations(tailer: String, rotation: String) throws {
        let maxSize = ProcessInfo.processInfo.environment["TEST_TAIL_MAX_SIZE"] ?? "4MiB"
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logs = "\(dir)/logs"
        // A ring buffer large enough for the whole storm: CI runs this beside
        // the image builds, and a starved reader's kernel loss (reported, and
        // counted below) is not what this test is about.
        let file = try config("""
            ring_buffer_size: 64MiB
            sinks:
              file: {path: \(logs)/bind.ndjson, max_size: \(maxSize), max_files: 100, rotation: \(rotation), compress_after: 5s}
            """, in: dir)
        let tracer = try Tracer(["--config", file])
        let received = "\(dir)/received.ndjson"
        var syslog: SyslogNg?
        let tail = Process()
        if tailer == "syslog-ng" {
            syslog = try SyslogNg(directory: dir, output: received, source: """
                wildcard-file(base-dir("\(logs)") filename-pattern("\(rotation == "rename" ? "bind.ndjson" : "bind-*.ndjson")")
                              follow-freq(0.1) flags(no-parse))
                """)
        } else {
            tail.executableURL = URL(fileURLWithPath: "/usr/bin/tail")
            tail.arguments = ["-n", "+1", "-F", "-s", "0.1", "\(logs)/bind.ndjson"]
            _ = FileManager.default.createFile(atPath: received, contents: nil)
            tail.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: received))
            tail.standardError = FileHandle.nullDevice
            try tail.runUnmasked()
        }
        defer {
            syslog?.stop()
            tail.stop()
        }
        usleep(300_000)
        _ = try run(Harness.bindgen, ["--count", "100000", "--quiet"])
        let stormEnded = Date()
        // The tailer has caught up when its output stops growing.
        var lastSize = -1
        for _ in 0..<100 {
            let size = ((try? FileManager.default.attributesOfItem(atPath: received))?[.size] as? Int) ?? 0
            if size == lastSize { break }
            lastSize = size
            usleep(500_000)
        }
        // Then compress_after (5 s) and a housekeeping second pass: all but
        // the newest rotated file are compressed, as before.
        usleep(UInt32(max(0, 6.5 - Date().timeIntervalSince(stormEnded)) * 1e6))
        let compressed = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasSuffix(".zst") }.count
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        let emitted = try #require(summaryEvents(tracer.stderr), "\(tracer.stderr)")
        let lost = try #require(summaryLost(tracer.stderr), "\(tracer.stderr)")
        syslog?.stop()
        if tail.isRunning { tail.terminate() }
        let rotated = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasPrefix("bind-") }.count
            - (rotation == "rename" ? 0 : 1)  // new-file: the last one was being written
        var copies: [Int: Int] = [:]
        var broken = 0
        // Nothing received: no file (syslog-ng creates it with its first message).
        for line in ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let sequence = event.path("event.sequence") as? Int else {
                broken += 1
                continue
            }
            copies[sequence, default: 0] += 1
        }
        let duplicates = copies.values.reduce(0) { $0 + $1 - 1 }
        let missing = Set(1...emitted).subtracting(copies.keys).count
        print("\(tailer), rotation \(rotation): \(emitted) events written, \(lost) lost in the kernel, \(rotated) rotations (\(compressed) compressed after 5 s), \(copies.count) received, \(missing) missing, \(duplicates) duplicates, \(broken) broken lines")
        #expect(emitted + lost >= 100_000, "every bind written or counted as lost")
        #expect(emitted >= 90_000, "\(emitted) events: the storm was mostly lost")
        #expect(rotated >= 10)
        #expect(compressed == rotated - 1, "all but the newest rotated file compressed once their grace is over")
        guard tailer == "tail -F" || rotation == "new-file" else { return }
        #expect(missing == 0)
        #expect(duplicates == 0)
        #expect(broken == 0)
    }

    /// deploy/pipelines/syslog-ng.conf, as shipped, with the real daemon.
    @Test(.root) func syslogNgRecipeReceivesEveryEvent() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let syslog = try SyslogNg(directory: dir, recipe: Harness.packageDirectory.path + "/deploy/pipelines/syslog-ng.conf",
                                  socket: "/run/syslog-ng/bindsnoop.sock", output: "/var/log/bindsnoop/received.ndjson")
        defer { syslog.stop() }
        let file = try config("sinks:\n  unix: {path: \(syslog.socketPath), mode: stream}\n", in: dir)
        var tracer: Tracer?
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "200", "--quiet"], input: "go\n") { pid in
            tracer = try Tracer(["--config", file, "--pid", "\(pid)"])
        }
        let t = try #require(tracer)
        #expect(t.stop(signal: SIGTERM) == 0)
        syslog.stop()
        let lines = try String(contentsOfFile: syslog.outputPath, encoding: .utf8).split(separator: "\n").map(String.init)
        let pids = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?.path("process.pid") as? Int }
        #expect(pids.count == 200 && pids.allSatisfy { $0 == Int(load.pid) }, "\(pids.count) of 200 events arrived")
        try validateAgainstSchema(lines)
    }

    @Test(arguments: [
        ("sinks:\n  file: {path: /tmp/x.ndjson, max_sise: 1MiB}\n", "sinks.file.max_sise"),
        ("sinks:\n  file: {path: /tmp/x.ndjson, max_size: -1}\n", "sinks.file.max_size"),
        ("sinks:\n  unix: {path: relative.sock}\n", "sinks.unix.path"),
        ("filters: {pid: [1]}\n", "filters.pid"),
        ("sinks:\n  file: {path: /proc/bindsnoop/bind.ndjson}\n", "sinks.file.path"),
    ])
    func badConfigurationExits78(yaml: String, key: String) throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(Harness.bindsnoop, ["--config", try config(yaml, in: dir)])
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(key), "\(result.stderr)")
    }

    @Test func badEnvironmentExits78() throws {
        let process = Process()
        process.executableURL = Harness.bindsnoop
        process.environment = ["BINDSNOOP_SINKS_FILE_PATHH": "/tmp/x"]
        let err = Pipe()
        process.standardError = err
        try process.runUnmasked()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 78)
        #expect(stderr.contains("BINDSNOOP_SINKS_FILE_PATHH"))
    }
}
