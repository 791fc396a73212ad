@testable import BindsnoopCore
import Foundation
import Testing

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

    /// Every rotated file oldest first (compressed or still plain), then the active one.
    private func readBack(_ directory: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        var text = ""
        for name in names where name.hasPrefix("bind-") && !name.hasSuffix(".tmp") {
            guard name.hasSuffix(".zst") else {
                text += try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
                continue
            }
            let result = try runTool("/usr/bin/zstd", ["-dc", "\(directory)/\(name)"])
            #expect(result.status == 0, "zstd -d \(name): \(result.stderr)")
            text += result.stdout
        }
        text += (try? String(contentsOfFile: "\(directory)/bind.ndjson", encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 + "\n" }
    }

    /// 16 KiB files, all kept, compressed as soon as a newer one exists.
    private func manySegments(_ directory: String) -> FileSinkSettings {
        var settings = FileSinkSettings(path: "\(directory)/bind.ndjson")
        settings.maxSize = 16 << 10
        settings.maxFiles = 1000
        settings.compressAfter = 0
        return settings
    }

    @Test func everyLineOnceInOrderAcrossSegments() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = manySegments(directory)
        let sink = try RotatingFileSink(settings: settings, logger: failOnProblems)
        let all = lines(1...6000)
        for start in stride(from: 0, to: all.count, by: 250) {
            try write(Array(all[start..<min(start + 250, all.count)]), to: sink, firstSequence: start + 1)
        }
        sink.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.filter { $0.hasSuffix(".ndjson.zst") }.count > 10)
        #expect(names.filter { $0.hasPrefix("bind-") && $0.hasSuffix(".ndjson") }.count == 1, "the newest rotated file stays plain")
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
        settings.compressAfter = 0
        let sink = try RotatingFileSink(settings: settings, logger: failOnProblems)
        try write(lines(1...400), to: sink, firstSequence: 1)
        try write(lines(401...401), to: sink, firstSequence: 401)
        try sink.reopen()
        sink.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        let kept = names.filter { $0.hasSuffix(".zst") }.sorted()
        #expect(kept.count == 3, "retention counts compressed files")
        let plain = names.filter { $0.hasPrefix("bind-") && $0.hasSuffix(".ndjson") }
        #expect(plain.count == 1 && plain[0] > kept.last!, "the newest rotated file stays plain: \(plain)")
        let newest = try String(contentsOfFile: "\(directory)/\(plain[0])", encoding: .utf8)
        #expect(newest.hasSuffix(lines(401...401)[0]), "SIGHUP rotates the active file")
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
        // The rotated file stays plain: the newest, until the next rotation (a tailer may be reading it).
        #expect(entries == [".bind.ndjson.lock", names.rotatedName(unixNanoseconds: 1_000_000_000), "bind.ndjson"])
        #expect(try readBack(directory) == lines(1...13))
    }

    /// A kill during compression leaves a plain file and its own partial
    /// archive: the next start ends with the archive complete and nothing
    /// else. (The race this once lost, an unlink of the compressor's fresh
    /// `.zst.tmp`, depends on thread timing this test does not control.)
    @Test func recompressesAFileWhosePartialArchiveIsLeft() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = RotatedFileNames(activeName: "bind.ndjson")
        let rotated = names.rotatedName(unixNanoseconds: 1_000_000_000)
        let newer = names.rotatedName(unixNanoseconds: 2_000_000_000)
        try lines(1...2000).joined().write(toFile: "\(directory)/\(rotated)", atomically: false, encoding: .utf8)
        try "partial".write(toFile: "\(directory)/\(rotated).zst.tmp", atomically: false, encoding: .utf8)
        try lines(2001...2002).joined().write(toFile: "\(directory)/\(newer)", atomically: false, encoding: .utf8)
        var settings = FileSinkSettings(path: "\(directory)/bind.ndjson")
        settings.compressAfter = 0
        let sink = try RotatingFileSink(settings: settings, logger: failOnProblems)
        sink.close()
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(entries == [".bind.ndjson.lock", rotated + ".zst", newer, "bind.ndjson"])
        #expect(try readBack(directory) == lines(1...2002))
    }

    /// `rotation: new-file`: each file is written under its dated name and
    /// never renamed; nothing sits at `path`; a restart cuts the partial last
    /// line of the file it was writing and starts a new one.
    @Test func newFileRotationNeverRenames() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = manySegments(directory)
        settings.rotation = .newFile
        let sink = try RotatingFileSink(settings: settings, logger: failOnProblems)
        let all = lines(1...3000)
        try write(all, to: sink, firstSequence: 1)
        sink.close()
        var names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!names.contains("bind.ndjson"))
        let plain = names.filter { $0.hasPrefix("bind-") && $0.hasSuffix(".ndjson") }.sorted()
        #expect(plain.count == 2, "the one being written and the newest finished one: \(plain)")
        #expect(names.filter { $0.hasSuffix(".zst") }.count > 5)
        #expect(try readBack(directory) == all)

        let unfinished = "\(directory)/\(plain.last!)"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: unfinished))
        handle.seekToEndOfFile()
        handle.write(Data("{\"half\":".utf8))
        try handle.close()
        let again = try RotatingFileSink(settings: settings, logger: failOnProblems)
        try write(lines(3001...3001), to: again, firstSequence: 3001)
        again.close()
        names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(try readBack(directory) == lines(1...3001), "the partial line is cut, a new file begins")
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
