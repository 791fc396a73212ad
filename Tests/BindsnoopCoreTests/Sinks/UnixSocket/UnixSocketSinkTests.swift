@testable import BindsnoopCore
import Foundation
import Testing

/// The socket sink against a real Unix socket: an event storm while the
/// forwarder is away, or connected and not reading, keeps memory within
/// `buffer`; the newest lines are dropped and one record at the place of
/// the gap reports them, exactly.
struct UnixSocketSinkTests {
    /// `count` lines of 200 bytes from `first` on, in batches of 1000.
    private func writeLines(_ sink: UnixSocketSink, from first: Int, count: Int, bound: UInt64) throws {
        let body = String(repeating: "x", count: 180)
        for batchStart in stride(from: first, to: first + count, by: 1000) {
            var bytes: [UInt8] = []
            var ends: [Int] = []
            var sequences: [UInt64] = []
            for sequence in batchStart..<min(batchStart + 1000, first + count) {
                bytes += Array("{\"s\":\(String(format: "%07d", sequence)),\"p\":\"\(body)\"}\n".utf8)
                ends.append(bytes.count)
                sequences.append(UInt64(sequence))
            }
            try bytes.withUnsafeBytes { try sink.write(LineBatch(bytes: $0, lineEnds: ends, sequences: sequences)) }
            #expect(sink.bufferedBytes <= bound + 1024, "the buffer grew past its bound: \(sink.bufferedBytes)")
        }
    }

    /// Reads what `peer` has until the sink has nothing pending (ticking it).
    private func drain(_ sink: UnixSocketSink, peer: Int32) throws -> [String] {
        var received = Data()
        let deadline = Date().addingTimeInterval(10)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while Date() < deadline {
            try sink.tick()
            let n = recv(peer, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if n > 0 { received.append(contentsOf: chunk[0..<n]) } else if !sink.hasPending { break } else { usleep(5_000) }
        }
        return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    private func sequence(_ line: String) -> Int? { line.hasPrefix("{\"s\":") ? Int(line.dropFirst(5).prefix(7)) : nil }

    /// A forwarder that accepts and never reads: writes never wait, the
    /// buffer stays bounded, and once it reads it gets the lines kept, the
    /// record of the dropped range, then the lines after it, in order.
    @Test func aForwarderThatStopsReadingGetsTheGapRecordedWhereItIs() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-unix-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = UnixSinkSettings(path: "\(directory)/forwarder.sock")
        settings.buffer = 256 << 10
        let server = try listener(at: settings.path)
        defer { close(server) }
        let sink = UnixSocketSink(settings: settings, metrics: MetricEncoder(host: RecordFixtures.host), logger: LogRecorder().logger)
        let peer = accept(server, nil, nil)
        try #require(peer >= 0)
        defer { close(peer) }
        try writeLines(sink, from: 1, count: 50_000, bound: settings.buffer)
        let dropped = sink.statistics.dropped["buffer_full"] ?? 0
        #expect(dropped > 0 && sink.statistics.lost == dropped)
        var got = try drain(sink, peer: peer)
        try writeLines(sink, from: 50_001, count: 10, bound: settings.buffer)
        got += try drain(sink, peer: peer)
        sink.close()

        let recordIndex = try #require(got.firstIndex { $0.contains("\"events-lost\"") }, "no loss record")
        let kept = got[..<recordIndex].compactMap(sequence)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(got[recordIndex].utf8)) as? [String: Any])
        #expect(kept == Array(1...kept.count), "the lines before the gap, in order, each once")
        #expect(record.path("bind.lost.events") as? Int == Int(dropped) && record.path("bind.lost.reason") as? String == "buffer_full")
        #expect(record.path("bind.lost.first_sequence") as? Int == kept.count + 1 && record.path("bind.lost.last_sequence") as? Int == 50_000)
        #expect(kept.count + Int(dropped) == 50_000, "kept \(kept.count) + dropped \(dropped) != 50 000")
        #expect(got[(recordIndex + 1)...].compactMap(sequence) == Array(50_001...50_010), "after the record, the new lines")
    }

    private func listener(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(fd, 1) == 0, "listen on \(path): \(errno)")
        return fd
    }

    @Test func stormWhileForwarderIsAwayStaysBoundedAndIsReported() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-unix-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = UnixSinkSettings(path: "\(directory)/forwarder.sock")
        settings.buffer = 64 << 10
        let sink = UnixSocketSink(settings: settings, metrics: MetricEncoder(host: RecordFixtures.host), logger: LogRecorder().logger)

        // 100 000 lines of 200 bytes (20 MB) with nobody listening.
        let lines = 100_000
        try writeLines(sink, from: 1, count: lines, bound: settings.buffer)
        #expect(sink.statistics.problem?.reason.contains("cannot reach") == true, "unreachable is a problem: \(String(describing: sink.statistics.problem))")

        // The forwarder appears: the oldest lines, whole and in order, then the record of the rest.
        let server = try listener(at: settings.path)
        defer { close(server) }
        let deadline = Date().addingTimeInterval(10)
        var peer: Int32 = -1
        while Date() < deadline && peer < 0 {
            try sink.tick()
            var pfd = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 20) == 1 { peer = accept(server, nil, nil) }
        }
        try #require(peer >= 0, "the sink never connected")
        defer { close(peer) }
        let got = try drain(sink, peer: peer)
        sink.close()
        #expect(sink.statistics.problem == nil)

        let record = try #require(try JSONSerialization.jsonObject(with: Data((got.last ?? "").utf8)) as? [String: Any], "last line: \(got.last ?? "")")
        let loss = try #require(record.path("bind.lost") as? [String: Any])
        let lost = try #require(loss["events"] as? Int)
        let kept = got.dropLast().map { Int($0.dropFirst(5).prefix(7))! }
        #expect(record.path("event.action") as? String == "events-lost" && loss["source"] as? String == "unix")
        #expect(kept == Array(1...kept.count), "the oldest lines, in order, each once")
        #expect(lost + kept.count == lines, "lost \(lost) + received \(kept.count) != \(lines)")
        #expect(loss["first_sequence"] as? Int == kept.count + 1 && loss["last_sequence"] as? Int == lines)
    }

    /// A regular file, or a symlink (even to a real socket), where the
    /// forwarder's socket should be is refused, said, and retried later.
    @Test func onlyASocketItselfIsConnectedTo() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-unix-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try listener(at: "\(directory)/real.sock")
        defer { close(server) }
        try "not a socket".write(toFile: "\(directory)/file.sock", atomically: true, encoding: .utf8)
        symlink("\(directory)/real.sock", "\(directory)/link.sock")
        for name in ["file.sock", "link.sock"] {
            let log = LogRecorder()
            let sink = UnixSocketSink(settings: UnixSinkSettings(path: "\(directory)/\(name)"), metrics: MetricEncoder(host: RecordFixtures.host),
                                      logger: log.logger)
            try Array("{}\n".utf8).withUnsafeBytes { try sink.write(LineBatch(bytes: $0, lineEnds: [3], sequences: [1])) }
            #expect(log.all.contains { $0.level == .warning && $0.message.contains("is not a socket") }, "\(name): \(log.messages)")
            #expect(sink.interest == .soon, "\(name): nothing sent, the line kept")
            var pfd = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
            #expect(poll(&pfd, 1, 50) == 0, "\(name): the real socket behind it was connected to")
            sink.close()
        }
    }
}
