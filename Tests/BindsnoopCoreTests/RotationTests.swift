@testable import BindsnoopCore
import Foundation
import Testing

@Suite struct RotationTests {
    @Test func rotatesBetweenLinesOnly() {
        let policy = RotationPolicy(maxSize: 100, maxFiles: 3)
        #expect(!policy.needsRotation(currentSize: 0, lineBytes: 500), "an empty file takes even an oversized line")
        #expect(!policy.needsRotation(currentSize: 60, lineBytes: 40))
        #expect(policy.needsRotation(currentSize: 61, lineBytes: 40))
        let aged = RotationPolicy(maxSize: 100, maxAge: 60, maxFiles: 3)
        #expect(aged.isTooOld(currentSize: 1, openedAt: 0, now: 60))
        #expect(!aged.isTooOld(currentSize: 0, openedAt: 0, now: 600), "an empty file is never rotated")
        #expect(!policy.isTooOld(currentSize: 1, openedAt: 0, now: 1e9))
    }

    @Test func retentionKeepsTheNewest() {
        let files: [(name: String, bytes: UInt64)] = [("b-3", 10), ("b-1", 10), ("b-4", 10), ("b-2", 10)]
        #expect(RotationPolicy(maxSize: 1, maxFiles: 2).filesToDelete(files) == ["b-1", "b-2"])
        #expect(RotationPolicy(maxSize: 1, maxFiles: 10, maxTotalSize: 25).filesToDelete(files) == ["b-1", "b-2"])
        #expect(RotationPolicy(maxSize: 1, maxFiles: 10).filesToDelete(files).isEmpty)
    }

    @Test func compressionDropsToLevelOneWhenBehind() {
        #expect(BackgroundCompressor.level(configured: 19, waiting: 0) == 19)
        #expect(BackgroundCompressor.level(configured: 19, waiting: 1) == 19, "one file may wait while another is compressed")
        #expect(BackgroundCompressor.level(configured: 19, waiting: 2) == 1)
        #expect(BackgroundCompressor.level(configured: 1, waiting: 50) == 1)
    }

    @Test func rotatedNames() {
        let names = RotatedFileNames(activeName: "bind.ndjson")
        let rotated = names.rotatedName(unixNanoseconds: 1_795_959_499_000_000_001)
        #expect(rotated == "bind-20261129T133819.000000001Z.ndjson")
        #expect(names.classify(rotated) == .plain)
        #expect(names.classify(rotated + ".zst") == .compressed)
        #expect(names.classify(rotated + ".zst.tmp") == .partialCompression)
        #expect(names.classify("bind.ndjson") == nil)
        #expect(names.classify("bind-notatimestamp.ndjson") == nil)
        #expect(names.classify("other-20261129T133819.000000001Z.ndjson") == nil)
        #expect(RotatedFileNames(activeName: "events").rotatedName(unixNanoseconds: 0) == "events-19700101T000000.000000000Z")
    }
}

/// The file sink against a real directory, decompressed with the real `zstd` CLI.
@Suite(.serialized) struct RotatingFileSinkTests {
    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-rotation-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o750])
        return path
    }

    private func lines(_ range: ClosedRange<Int>) -> [String] {
        range.map { "{\"event\":{\"sequence\":\($0)},\"pad\":\"\(String(repeating: "x", count: $0 % 97))\"}\n" }
    }

    private func write(_ text: [String], to sink: Sink, firstSequence: Int) throws {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for line in text {
            bytes += Array(line.utf8)
            ends.append(bytes.count)
        }
        try bytes.withUnsafeBytes { raw in
            try sink.write(LineBatch(bytes: raw, lineEnds: ends, sequences: (0..<text.count).map { UInt64(firstSequence + $0) }))
        }
    }

    /// The sink's messages, as failures, except the compressor's note that it
    /// fell behind (these tests rotate faster than any real storm).
    private let failOnProblems = LogRecorder { entry in
        if entry.level >= .warning && !entry.message.hasPrefix("compression ") { Issue.record("sink: \(entry.message)") }
    }.logger

    private func readBack(_ directory: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        var text = ""
        for name in names where name.hasSuffix(".zst") {
            let result = try runTool("/usr/bin/zstd", ["-dc", "\(directory)/\(name)"])
            #expect(result.status == 0, "zstd -d \(name): \(result.stderr)")
            text += result.stdout
        }
        text += (try? String(contentsOfFile: "\(directory)/bind.ndjson", encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 + "\n" }
    }

    @Test func everyLineOnceInOrderAcrossSegments() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = FileSinkSettings(path: "\(directory)/bind.ndjson")
        settings.maxSize = 16 << 10
        settings.maxFiles = 1000
        let sink = try RotatingFileSink(settings: settings, logger: failOnProblems)
        let all = lines(1...6000)
        for start in stride(from: 0, to: all.count, by: 250) {
            try write(Array(all[start..<min(start + 250, all.count)]), to: sink, firstSequence: start + 1)
        }
        sink.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.filter { $0.hasSuffix(".ndjson.zst") }.count > 10)
        #expect(!names.contains { $0.hasSuffix(".tmp") })
        #expect(try readBack(directory) == all)
        for name in names where name.hasSuffix(".zst") {
            var status = stat()
            stat("\(directory)/\(name)", &status)
            #expect(status.st_mode & 0o777 == 0o640)
        }
    }

    @Test func retentionAndSighupRotation() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = FileSinkSettings(path: "\(directory)/bind.ndjson")
        settings.maxSize = 4096
        settings.maxFiles = 3
        let sink = try RotatingFileSink(settings: settings, logger: failOnProblems)
        try write(lines(1...400), to: sink, firstSequence: 1)
        try write(lines(401...401), to: sink, firstSequence: 401)
        try sink.reopen()
        sink.close()
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".zst") }.sorted()
        #expect(kept.count == 3)
        let newest = try runTool("/usr/bin/zstd", ["-dc", "\(directory)/\(kept.last!)"])
        #expect(newest.stdout.hasSuffix(lines(401...401)[0]), "SIGHUP rotates the active file")
        #expect(FileManager.default.fileExists(atPath: "\(directory)/bind.ndjson"))
    }

    @Test func recoversWhatACrashLeft() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = RotatedFileNames(activeName: "bind.ndjson")
        let leftover = "\(directory)/\(names.rotatedName(unixNanoseconds: 1_000_000_000))"
        try lines(1...10).joined().write(toFile: leftover, atomically: false, encoding: .utf8)
        try "garbage".write(toFile: "\(directory)/\(names.rotatedName(unixNanoseconds: 2_000_000_000)).zst.tmp",
                            atomically: false, encoding: .utf8)
        try (lines(11...12).joined() + "{\"half\":").write(toFile: "\(directory)/bind.ndjson", atomically: false, encoding: .utf8)
        let sink = try RotatingFileSink(settings: FileSinkSettings(path: "\(directory)/bind.ndjson"), logger: failOnProblems)
        try write(lines(13...13), to: sink, firstSequence: 13)
        sink.close()
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(entries == [".bind.ndjson.lock", names.rotatedName(unixNanoseconds: 1_000_000_000) + ".zst", "bind.ndjson"])
        #expect(try readBack(directory) == lines(1...13))
    }

    @Test func refusesUnsafePlaces() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o777)
        #expect(throws: SinkError.self) { try RotatingFileSink(settings: FileSinkSettings(path: "\(directory)/b.ndjson"), logger: LogRecorder().logger) }
        chmod(directory, 0o750)
        symlink("/etc/passwd", "\(directory)/b.ndjson")
        #expect(throws: SinkError.self) { try RotatingFileSink(settings: FileSinkSettings(path: "\(directory)/b.ndjson"), logger: LogRecorder().logger) }
    }

    @Test func oneWriterPerFileSet() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = FileSinkSettings(path: "\(directory)/bind.ndjson")
        let first = try RotatingFileSink(settings: settings, logger: LogRecorder().logger)
        do {
            _ = try RotatingFileSink(settings: settings, logger: LogRecorder().logger)
            Issue.record("a second writer of the same files was accepted")
        } catch {
            #expect(error.description.contains("another bindsnoop"), "\(error)")
        }
        first.close()
        let again = try RotatingFileSink(settings: settings, logger: LogRecorder().logger)  // the lock went with the first
        again.close()
    }
}

/// A compressor handed files faster than it can compress them at level 19.
@Suite struct BackgroundCompressorTests {
    @Test func aBacklogIsCompressedAtLevelOneAndSaidSo() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-backlog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = LogRecorder()
        let compressor = BackgroundCompressor(compressor: ZstdCompressor(level: 19, mode: 0o640), afterEach: {},
                                              logger: log.logger)
        var contents: [String: String] = [:]
        for n in 0..<6 {
            let path = "\(directory)/segment-\(n).ndjson"
            let text = (0..<20_000).map { "{\"event\":{\"sequence\":\($0 * 7 + n)},\"host\":\"h\($0 % 13)\"}\n" }.joined()
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            contents[path] = text
            compressor.enqueue(path)
        }
        compressor.stop(within: 300)
        for (path, text) in contents {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) left plain")
            let back = try runTool("/usr/bin/zstd", ["-dc", path + ".zst"])
            #expect(back.status == 0 && back.stdout == text, "\(path).zst: \(back.stderr)")
        }
        let said = log.all
        #expect(said.count == 2, "\(log.messages)")
        #expect(said.first?.level == .warning && said.first?.message.contains("behind at level 19; compressing at level 1") == true,
                "\(log.messages)")
        #expect(said.last?.level == .info && said.last?.message == "compression has caught up; back to level 19", "\(log.messages)")
    }
}

func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}
