import Foundation
import Testing

/// The output tests, one at a time (`.serialized` holds for the suites nested
/// in it: FileSinkTests, UnixSinkTests, TailerTests): their storms, tailers
/// and compressors would otherwise compete for this machine's two cores, and
/// a test that waits for compression after a grace measures that contention.
@Suite(.serialized) struct SinkTests {}

/// What the sink tests share: a private directory, a configuration file in
/// it, every line the file output wrote.
enum SinkFixture {
    static func directory() throws -> String {
        let path = Harness.temporaryFile("sink")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o750])
        return path.path
    }

    static func config(_ yaml: String, in directory: String) throws -> String {
        let path = "\(directory)/bindsnoop.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every rotated file, oldest first (a .zst decompressed, one left plain
    /// for tailers read as it is), followed by the active file.
    static func readAll(_ directory: String, active: String = "bind.ndjson") throws -> [String] {
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
}

/// What a receiver (a forwarder's output file) got, by bindsnoop's sequence
/// numbers: how often each arrived, which were reported lost in band
/// (`events-lost` records' ranges), and the lines that were no JSON object.
struct ReceivedStream {
    private(set) var copies: [Int: Int] = [:]
    private(set) var lost = Set<Int>()
    private(set) var broken = 0
    /// JSON lines without `event.sequence`.
    private(set) var unsequenced = 0
    private(set) var lines: [String] = []

    /// The receiver's file; none yet (syslog-ng creates it with its first message) is an empty stream.
    init(path: String) {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            lines.append(String(line))
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                broken += 1
                continue
            }
            if let sequence = event.path("event.sequence") as? Int { copies[sequence, default: 0] += 1 } else { unsequenced += 1 }
            if let first = event.path("bind.lost.first_sequence") as? Int, let last = event.path("bind.lost.last_sequence") as? Int {
                lost.formUnion(first...last)
            }
        }
    }

    var received: Set<Int> { Set(copies.keys) }
    /// Lines that arrived more than once.
    var duplicates: Int { copies.values.reduce(0) { $0 + $1 - 1 } }

    /// Of sequences 1...emitted, those neither received nor reported lost.
    func missing(of emitted: Int) -> Set<Int> {
        emitted < 1 ? [] : Set(1...emitted).subtracting(copies.keys).subtracting(lost)
    }
}
