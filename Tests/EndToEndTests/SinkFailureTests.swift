import Foundation
import Testing

extension SinkTests {
    /// Issue 21: one output failing never stops tracing or blinds the others.
    /// A full filesystem, a directory deleted or moved away, a forwarder that
    /// accepts and never reads: stdout keeps every event, the failing output
    /// keeps whole lines, drops only what it cannot deliver, and records the
    /// gap in band (count and sequence range) where it is.
    @Suite struct SinkFailureTests {
        private func binds(_ count: Int) throws {
            let result = try run(Harness.bindgen, ["--count", "\(count)", "--quiet"])
            #expect(result.status == 0, "bindgen: \(result.stderr)")
        }

        /// The JSON objects of a file's lines, and how many were no JSON object.
        private struct Written {
            var events: [[String: Any]] = []
            var broken = 0
            var endsWithNewline = true

            init(_ path: String) {
                let data = FileManager.default.contents(atPath: path) ?? Data()
                endsWithNewline = data.isEmpty || data.last == UInt8(ascii: "\n")
                for line in data.split(separator: UInt8(ascii: "\n")) {
                    if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] { events.append(object) } else { broken += 1 }
                }
            }

            var sequences: [Int] { events.compactMap { $0.path("event.sequence") as? Int } }
            /// The in-band records of what an output missed: (index among the lines, first, last, count, reason).
            var gaps: [(index: Int, first: Int, last: Int, count: Int, reason: String)] {
                events.enumerated().compactMap { index, event in
                    guard event.path("event.action") as? String == "events-lost", let first = event.path("bind.lost.first_sequence") as? Int,
                          let last = event.path("bind.lost.last_sequence") as? Int, let count = event.path("bind.lost.events") as? Int
                    else { return nil }
                    return (index, first, last, count, event.path("bind.lost.reason") as? String ?? "")
                }
            }
        }

        private func metric(_ port: UInt16, _ series: String) throws -> Double? {
            try get("http://127.0.0.1:\(port)/metrics").body.split(separator: "\n").first { $0.hasPrefix(series + " ") }
                .flatMap { Double($0.split(separator: " ").last!) }
        }

        /// /healthz once it answers 503 (within 15 s: a sink is named after 5 s without delivering).
        private func unhealthy(_ port: UInt16, sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int, body: String) {
            var health = (status: 0, body: "")
            #expect(try waitFor(15) {
                health = try get("http://127.0.0.1:\(port)/healthz")
                return health.status == 503
            }, "\(health)", sourceLocation: sourceLocation)
            return health
        }

        /// The file sink on a 16 MiB tmpfs filled mid-storm, stdout beside it:
        /// stdout gets every event; the file keeps whole lines up to the
        /// failure; /healthz names the file after 5 s; once space is freed the
        /// first line the file gets is the record of the gap, and written +
        /// missed = every event.
        @Test(.root) func aFullDiskDropsOnlyWhatTheFileCannotTakeAndResumes() throws {
            let dir = try SinkFixture.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let fs = "\(dir)/fs"
            try FileManager.default.createDirectory(atPath: fs, withIntermediateDirectories: false)
            let mount = try run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=16m,mode=0750", "bindsnoop-full", fs])
            try #require(mount.status == 0, "mount: \(mount.stderr)")
            defer { _ = try? run(URL(fileURLWithPath: "/bin/umount"), ["-l", fs]) }
            let port = try freePort()
            let active = "\(fs)/logs/bind.ndjson"
            let config = try SinkFixture.config("""
                sinks:
                  stdout: {enabled: true}
                  file: {path: \(active), compression: none}
                metrics: {address: "127.0.0.1:\(port)"}
                ring_buffer_size: 16MiB
                """, in: dir)
            // 16 MiB: the storm's binds and their releases (the kernel's loss is LossTests' subject).
            let tracer = try Tracer(["--config", config])
            try binds(1_000)
            #expect(waitFor(10) { Written(active).sequences.count >= 1_000 })
            // Ballast: everything free but 100 KiB, so that the storm's writes end mid-line.
            var space = statvfs()
            #expect(statvfs(fs, &space) == 0)
            let free = Int(space.f_bavail) * Int(space.f_frsize)
            #expect(FileManager.default.createFile(atPath: "\(fs)/ballast", contents: Data(count: max(0, free - (100 << 10)))))
            try binds(20_000)
            let health = try unhealthy(port)
            #expect(health.body.hasPrefix("sink file not delivering for ") && health.body.contains("ENOSPC"), "\(health.body)")
            #expect(try metric(port, #"bindsnoop_sink_up{sink="file"}"#) == 0)
            #expect(try get("http://127.0.0.1:\(port)/livez").status == 200, "tracing goes on")
            let dropped = try metric(port, #"bindsnoop_sink_dropped_lines_total{sink="file",reason="ENOSPC"}"#) ?? 0
            #expect(dropped > 0)

            try FileManager.default.removeItem(atPath: "\(fs)/ballast")
            try binds(1_000)
            #expect(waitFor(10) { !Written(active).gaps.isEmpty }, "no record of the gap after space came back")
            #expect(try waitFor(10) { try metric(port, #"bindsnoop_sink_up{sink="file"}"#) == 1 })
            try binds(1_000)
            #expect(tracer.stop() == 0, "\(tracer.stderr)")
            let stopped = try #require(StatusLine.stopped(in: tracer.stderr), "\(tracer.stderr)")
            let emitted = try #require(stopped.int("events"))

            let stdout = ReceivedStream(path: tracer.stdoutURL.path)
            #expect(stopped.int("lost") == 0, "the kernel lost events: \(tracer.stderr)")
            #expect(stdout.broken == 0 && stdout.missing(of: emitted).isEmpty, "stdout missed \(stdout.missing(of: emitted).count) of \(emitted)")
            let file = Written(active)
            #expect(file.broken == 0 && file.endsWithNewline, "\(file.broken) broken lines; ends whole: \(file.endsWithNewline)")
            let gaps = file.gaps
            try #require(gaps.count == 1, "\(gaps)")
            let gap = gaps[0]
            let sequences = file.sequences
            // 1...a, the record of a+1...b, then b+1... to the end: the record is the first line written again.
            let before = Array(sequences.prefix(gap.index))
            let after = Array(sequences.dropFirst(gap.index))
            #expect(before == Array(1...(gap.first - 1)), "before the gap: \(before.last ?? 0) lines, gap from \(gap.first)")
            #expect(after.first == gap.last + 1 && after == Array((gap.last + 1)...(after.last ?? gap.last + 1)), "after the gap")
            #expect(gap.count == gap.last - gap.first + 1 && gap.reason == "ENOSPC", "\(gap)")
            #expect(sequences.count + gap.count == stdout.received.count, "written \(sequences.count) + missed \(gap.count) != \(stdout.received.count)")
            #expect(stopped["dropped_by_output"]?.split(separator: ",").contains("file:\(gap.count)") == true, "\(stopped.fields)")
            try validateAgainstSchema(file.events.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) })
            print("full disk: \(emitted) events, stdout \(stdout.received.count), file wrote \(sequences.count) and recorded \(gap.count) missed (\(gap.first)...\(gap.last)), /healthz: \(health.body.trimmingCharacters(in: .newlines))")
        }

        /// The log directory deleted (a cleanup script) or renamed mid-run:
        /// the sink recreates it, and every event after the change is in the
        /// new file or in a record of the gap; nothing else stops.
        @Test(.root, arguments: ["deleted", "renamed"])
        func aDirectoryThatGoesAwayIsRecreated(change: String) throws {
            let dir = try SinkFixture.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let logs = "\(dir)/logs"
            let active = "\(logs)/bind.ndjson"
            let config = try SinkFixture.config("""
                sinks:
                  stdout: {enabled: true}
                  file: {path: \(active), compression: none}
                """, in: dir)
            let tracer = try Tracer(["--config", config])
            try binds(1_000)
            #expect(waitFor(10) { Written(active).sequences.count >= 1_000 })
            let lastBefore = Written(active).sequences.last ?? 0
            if change == "deleted" {
                try FileManager.default.removeItem(atPath: logs)
            } else {
                try FileManager.default.moveItem(atPath: logs, toPath: "\(dir)/logs.moved")
            }
            try binds(5_000)
            #expect(waitFor(10) { FileManager.default.fileExists(atPath: active) }, "\(tracer.stderr)")
            try binds(1_000)
            #expect(tracer.stop() == 0, "\(tracer.stderr)")
            let stopped = try #require(StatusLine.stopped(in: tracer.stderr), "\(tracer.stderr)")
            let emitted = try #require(stopped.int("events"))
            #expect(stopped.int("lost") == 0)
            let stdout = ReceivedStream(path: tracer.stdoutURL.path)
            #expect(stdout.missing(of: emitted).isEmpty)

            let file = Written(active)
            #expect(file.broken == 0 && file.endsWithNewline)
            var kept = Set(file.sequences)
            for gap in file.gaps { kept.formUnion(gap.first...gap.last) }
            if change == "renamed" {
                // Lines written before the sink saw the move are in the moved file.
                let moved = Written("\(dir)/logs.moved/bind.ndjson")
                #expect(moved.broken == 0 && moved.endsWithNewline)
                kept.formUnion(moved.sequences)
            }
            let after = stdout.received.filter { $0 > lastBefore }
            let unaccounted = after.subtracting(kept)
            #expect(after.count >= 6_000)
            #expect(unaccounted.isEmpty, "\(unaccounted.count) of \(after.count) events after the change neither in a file nor in a record")
            let warnings = tracer.stderr.split(separator: "\n").filter { $0.contains("warning:") || $0.contains("error:") }
            #expect(!warnings.isEmpty && warnings.count <= 3, "said once, not per event: \(warnings)")
            print("directory \(change): \(after.count) events after it, \(file.sequences.count) in the new file, \(file.gaps.map(\.count).reduce(0, +)) recorded missed; stderr: \(warnings)")
        }

        /// A forwarder that accepts and never reads (until told to), during a
        /// 50 000-bind storm with stdout on: stdout gets every event, the
        /// kernel loses none, /healthz names the unix sink, and when the
        /// forwarder reads again it gets whole lines and a record of the
        /// gap whose count is exactly what it did not get.
        @Test(.root) func aForwarderThatStopsReadingBlindsNothingElse() throws {
            let dir = try SinkFixture.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let socket = "\(dir)/stuck.sock"
            let trigger = "\(dir)/read-now"
            let received = "\(dir)/received.ndjson"
            let listener = Process()
            listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            listener.arguments = ["-c", """
                import os, socket, sys, time
                s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()
                c, _ = s.accept()
                while not os.path.exists(sys.argv[2]): time.sleep(0.05)
                with open(sys.argv[3], 'wb') as out:
                    while True:
                        b = c.recv(1 << 16)
                        if not b: break
                        out.write(b)
                """, socket, trigger, received]
            try listener.runUnmasked()
            defer { listener.stop() }
            #expect(waitFor(5) { FileManager.default.fileExists(atPath: socket) })
            let port = try freePort()
            let config = try SinkFixture.config("""
                sinks:
                  stdout: {enabled: true}
                  unix: {path: \(socket), mode: stream, buffer: 1MiB, drain_timeout: 10s}
                metrics: {address: "127.0.0.1:\(port)"}
                ring_buffer_size: 16MiB
                """, in: dir)
            let tracer = try Tracer(["--config", config])
            let started = Date()
            try binds(50_000)
            let storm = Date().timeIntervalSince(started)
            let health = try unhealthy(port)
            #expect(health.body.hasPrefix("sink unix not delivering for ") && health.body.contains("is not reading"), "\(health.body)")
            #expect(try metric(port, #"bindsnoop_sink_up{sink="unix"}"#) == 0)
            #expect(try metric(port, #"bindsnoop_events_read_total"#) ?? 0 >= 50_000, "the reader kept draining the ring buffer")
            let droppedWhileStuck = try metric(port, #"bindsnoop_sink_dropped_lines_total{sink="unix",reason="buffer_full"}"#) ?? 0
            #expect(droppedWhileStuck > 0)

            #expect(FileManager.default.createFile(atPath: trigger, contents: nil))
            #expect(try waitFor(15) { try metric(port, #"bindsnoop_sink_buffered_bytes{sink="unix"}"#) == 0 }, "the forwarder never caught up")
            #expect(tracer.stop(signal: SIGTERM) == 0, "\(tracer.stderr)")
            listener.waitUntilExit()
            let stopped = try #require(StatusLine.stopped(in: tracer.stderr), "\(tracer.stderr)")
            let emitted = try #require(stopped.int("events"))
            #expect(stopped.int("lost") == 0, "the kernel lost events: \(tracer.stderr)")
            let stdout = ReceivedStream(path: tracer.stdoutURL.path)
            #expect(stdout.received.count >= 50_000 && stdout.missing(of: emitted).isEmpty,
                    "stdout: \(stdout.received.count), missing \(stdout.missing(of: emitted).count) of \(emitted)")

            let forwarder = ReceivedStream(path: received)
            let gaps = Written(received).gaps
            #expect(forwarder.broken == 0 && forwarder.duplicates == 0)
            #expect(!gaps.isEmpty && gaps.allSatisfy { $0.reason == "buffer_full" && $0.count == $0.last - $0.first + 1 }, "\(gaps)")
            #expect(forwarder.lost.isDisjoint(with: forwarder.received), "a line both delivered and reported lost")
            #expect(forwarder.missing(of: emitted).isEmpty, "\(forwarder.missing(of: emitted).count) neither received nor reported lost")
            let recorded = gaps.map(\.count).reduce(0, +)
            #expect(forwarder.received.count + recorded == stdout.received.count,
                    "received \(forwarder.received.count) + recorded \(recorded) != \(stdout.received.count)")
            #expect(stopped["dropped_by_output"]?.split(separator: ",").contains("unix:\(recorded)") == true, "\(stopped.fields) vs \(recorded)")
            #expect(Double(recorded) >= droppedWhileStuck)
            try validateAgainstSchema(Array(forwarder.lines.prefix(200)) + forwarder.lines.filter { $0.contains("events-lost") })
            print(String(format: "stuck forwarder: %d binds in %.2f s, %d events, stdout %d, forwarder %d received + %d recorded missed in %d record(s), kernel lost %d; /healthz: %@",
                         50_000, storm, emitted, stdout.received.count, forwarder.received.count, recorded, gaps.count,
                         stopped.int("lost") ?? -1, health.body.trimmingCharacters(in: .newlines)))
        }
    }
}
