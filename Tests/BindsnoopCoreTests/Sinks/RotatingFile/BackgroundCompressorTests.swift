@testable import BindsnoopCore
import Foundation
import Testing

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
