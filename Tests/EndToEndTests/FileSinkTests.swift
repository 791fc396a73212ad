import Foundation
import Testing

extension SinkTests {
    /// The rotating file output with real components: the real tracer, real
    /// binds, rotation under load, kill -9, and the `zstd` CLI reading the archives.
    @Suite struct FileSinkTests {
        @Test(.root) func rotationUnderLoadKeepsEveryEventOnceInOrder() throws {
            let dir = try SinkFixture.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = try SinkFixture.config("""
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
            let lines = try SinkFixture.readAll("\(dir)/logs")
            let segments = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/logs").filter { $0.hasSuffix(".ndjson.zst") }
            #expect(segments.count >= 5, "\(segments.count) segments")
            var binds = 0
            let sequences = lines.compactMap { line -> Int? in
                let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(event?.path("process.pid") as? Int == Int(load.pid))
                if event?.path("event.action") as? String == "bind" { binds += 1 }
                return event?.path("event.sequence") as? Int
            }
            #expect(sequences == Array(1...max(sequences.count, 1)), "each line once, in order")
            #expect(binds == 3000, "3000 binds")
            #expect(sequences.count == 6000, "and their releases")
            try validateAgainstSchema(lines)
        }

        /// BCC's table to a file: the header is the file's first line.
        @Test(.root) func tableToAFileStartsWithItsHeader() throws {
            let dir = try SinkFixture.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = try SinkFixture.config("sinks:\n  file: {path: \(dir)/logs/bind.txt}\n", in: dir)
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
            let dir = try SinkFixture.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let logs = "\(dir)/logs"
            let file = try SinkFixture.config("""
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
            let lines = try SinkFixture.readAll(logs)
            #expect(lines.count > 100)
            for line in lines {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "broken line: \(line.prefix(120))")
            }
        }
    }
}
