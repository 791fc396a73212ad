@testable import BindsnoopCore
import CBindsnoop
import Foundation
import Testing

/// Many random inputs, from a fixed seed so that a failure reproduces (the
/// seed is in the message): whatever any process puts in its comm or its
/// sockaddr, and whatever an operator writes in a config, the decoder,
/// encoder and loader answer with valid JSON or a ConfigError, never a crash.
struct HostileInputTests {
    /// SplitMix64: small, fast, and the same sequence on every machine.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let iterations = 20_000

    private func randomBytes(_ count: Int, _ rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    @Test func decoderTakesExactlyOneRecordAndNothingElse() {
        var rng = SeededGenerator(state: 1)
        for _ in 0..<Self.iterations {
            let count = Int.random(in: 0...(2 * BindRecord.size), using: &rng)
            let bytes = randomBytes(count, &rng)
            let record = bytes.withUnsafeBytes { BindRecord(bytes: $0) }
            #expect((record != nil) == (count == BindRecord.size), "\(count) bytes")
        }
    }

    /// Arbitrary records (every field random: family, protocol, lengths,
    /// errno, addresses, comm bytes) always encode to one valid JSON object.
    @Test func arbitraryRecordsEncodeToValidJSON() throws {
        var rng = SeededGenerator(state: 2)
        var encoder = RecordFixtures.Encoder()
        for i in 0..<Self.iterations {
            var bytes = randomBytes(BindRecord.size, &rng)
            // Bias half of them towards plausible shapes so the deeper branches run.
            if i % 2 == 0 {
                bytes.withUnsafeMutableBytes { raw in
                    var e = raw.loadUnaligned(as: bind_event.self)
                    e.family = Bool.random(using: &rng) ? 2 : 10
                    e.requested_family = Bool.random(using: &rng) ? e.family : UInt16.random(in: 0...12, using: &rng)
                    e.requested_len = UInt16.random(in: 0...32, using: &rng)
                    e.ret = Bool.random(using: &rng) ? 0 : -Int32.random(in: 1...200, using: &rng)
                    e.probe = UInt8.random(in: 0...4, using: &rng)
                    raw.storeBytes(of: e, as: bind_event.self)
                }
            }
            let record = try #require(bytes.withUnsafeBytes { BindRecord(bytes: $0) })
            let line = encoder.encode(record, sequence: UInt64(i + 1))
            #expect(line.last == UInt8(ascii: "\n") && !line.dropLast().contains(UInt8(ascii: "\n")), "one line, seed 2, #\(i)")
            let object = try? JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: Any]
            #expect(object != nil, "seed 2, #\(i): not JSON: \(String(decoding: line, as: UTF8.self))")
            #expect(object?.path("event.sequence") as? Int == i + 1)
        }
    }

    /// Every comm a process can set (any bytes but NUL, up to 15) survives as
    /// a JSON string; valid UTF-8 comes back unchanged.
    @Test func anyProcessNameIsAValidJSONString() throws {
        var rng = SeededGenerator(state: 3)
        for i in 0..<Self.iterations {
            let comm = (0..<Int.random(in: 0...15, using: &rng)).map { _ in UInt8.random(in: 1...255, using: &rng) }
            var out = OutputBuffer()
            comm.withUnsafeBytes { out.appendJSONString($0) }
            let text = String(decoding: out.bytes, as: UTF8.self)
            let parsed = try? JSONSerialization.jsonObject(with: Data("[\(text)]".utf8)) as? [String]
            #expect(parsed?.count == 1, "seed 3, #\(i): \(comm)")
            if let valid = String(validating: comm, as: UTF8.self) {
                #expect(parsed?.first == valid, "valid UTF-8 must pass unchanged: \(comm)")
            }
        }
    }

    /// Random configurations assembled from real keys, real and wrong values
    /// and noise: the loader returns a configuration or one ConfigError that
    /// names a key, never anything else.
    @Test func configLoaderAnswersEveryInput() throws {
        var rng = SeededGenerator(state: 4)
        let keys = ConfigKeys.all.map(\.path) + ["filters", "sinks.file", "bogus"]
        let values = ["auto", "tracepoint", "json", "table", "4MiB", "-1", "0", "1", "70000", "1.5", "true", "no", "~", "[]",
                      "[1, 2]", "{}", "/tmp/x.ndjson", "relative", "1h", "500ms", "9999999999999999999999", "\"\\u0000\"",
                      "0640", "stream", "datagram", "*anchor", "&a x", "'", "\"", "- a", "? x", "!!binary AAAA", ""]
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for i in 0..<2_000 {
            var yaml = ""
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                let path = keys.randomElement(using: &rng)!.split(separator: ".")
                for (depth, key) in path.enumerated() {
                    yaml += String(repeating: "  ", count: depth) + key + ":"
                    yaml += depth == path.count - 1 ? " \(values.randomElement(using: &rng)!)\n" : "\n"
                }
            }
            if i % 5 == 0, !yaml.isEmpty {  // byte-level damage
                var bytes = Array(yaml.utf8)
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                yaml = String(decoding: bytes, as: UTF8.self)
            }
            let file = "\(directory)/\(i).yaml"
            try yaml.write(toFile: file, atomically: false, encoding: .utf8)
            let environment = i % 3 == 0
                ? ["BINDSNOOP_" + keys.randomElement(using: &rng)!.replacingOccurrences(of: ".", with: "_").uppercased():
                    values.randomElement(using: &rng)!]
                : [:]
            do {
                _ = try ConfigurationLoader.load(file: file, environment: environment)
            } catch {
                #expect(!error.description.isEmpty && !error.description.contains("\n"), "seed 4, #\(i): \(error)")
            }
        }
    }

    /// What `--config` may be pointed at by mistake or by malice: one line
    /// each, bounded (an excerpt of at most 200 bytes, control bytes escaped),
    /// with the true reason, and never the whole file read into memory.
    @Test func configFilesThatAreNotConfigurationsGetTheTrueReason() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func refusal(_ path: String) -> ConfigError? {
            do {
                _ = try ConfigurationLoader.load(file: path, environment: [:])
                return nil
            } catch {
                return error
            }
        }
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = "\(directory)/\(name)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let fifo = "\(directory)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let oneLine = try write("one-line.yaml", Array("a: ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 600_000) + Array(": b: c".utf8))
        let huge = try write("huge.yaml", [UInt8](repeating: UInt8(ascii: "#"), count: ConfigurationLoader.maximumFileBytes + 1))
        let nul = try write("nul.yaml", Array("probe: trace\u{0}point\n".utf8))
        let escape = try write("escape.yaml", Array("probe: \"\u{1b}[31mred\\n\"\n".utf8))
        let binary = try write("binary.yaml", [0xFF, 0xFE, 0x00, 0x41])
        let cases: [(path: String, says: String)] = [
            (directory, "is a directory"), (fifo, "is a FIFO"), ("/dev/zero", "is a device"), ("/dev/null", "is a device"),
            ("\(directory)/absent.yaml", "ENOENT"), (huge, "a configuration file is at most 1 MiB"),
            (oneLine, "not valid YAML: line 1, column 600004: mapping values are not allowed in this context, near '…xxx"), (nul, "control characters are not allowed (0x0), near 'probe: trace\\x00point'"),
            (escape, "near 'probe: \"\\x1b[31mred"), (binary, "is not UTF-8 text"),
        ]
        for (path, says) in cases {
            let error = try #require(refusal(path), "\(path)")
            let line = error.description
            #expect(line.contains(says), "\(path): \(line)")
            #expect(!error.isUsageError, "a configuration problem is exit 78: \(line)")
            #expect(line.utf8.count < 600, "\(path): \(line.utf8.count) bytes")
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(path): \(line)")
        }
    }

    /// The excerpt: escaped, cut on a character, and it says what it left out.
    @Test func excerptsAreBoundedAndEscaped() {
        #expect(ConfigError.excerpt("a\nb\tc\u{0}d\u{7f}") == "a\\nb\\tc\\x00d\\x7f")
        #expect(ConfigError.excerpt(String(repeating: "é", count: 150), limit: 5) == "éé… (296 more bytes)")
        #expect(ConfigError.excerpt("short") == "short")
    }
}
