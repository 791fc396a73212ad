@testable import BindsnoopCore
import Foundation
import Testing

/// The socket sink against a real Unix socket: an event storm while the
/// forwarder is away keeps memory within `buffer`, and what was dropped is
/// the first thing the forwarder reads once it is there.
struct UnixSocketSinkTests {
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

    @Test func stormWhileForwarderIsAwayStaysBoundedAndIsReportedFirst() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-unix-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = UnixSinkSettings(path: "\(directory)/forwarder.sock")
        settings.buffer = 64 << 10
        let sink = UnixSocketSink(settings: settings, metrics: MetricEncoder(host: RecordFixtures.host), logger: LogRecorder().logger)

        // 100 000 lines of 200 bytes (20 MB) with nobody listening.
        let lines = 100_000
        let body = String(repeating: "x", count: 180)
        for batchStart in stride(from: 1, through: lines, by: 1000) {
            var bytes: [UInt8] = []
            var ends: [Int] = []
            var sequences: [UInt64] = []
            for sequence in batchStart..<(batchStart + 1000) {
                bytes += Array("{\"s\":\(String(format: "%07d", sequence)),\"p\":\"\(body)\"}\n".utf8)
                ends.append(bytes.count)
                sequences.append(UInt64(sequence))
            }
            try bytes.withUnsafeBytes { try sink.write(LineBatch(bytes: $0, lineEnds: ends, sequences: sequences)) }
            #expect(sink.bufferedBytes <= settings.buffer + 256, "the buffer grew past its bound: \(sink.bufferedBytes)")
        }

        // The forwarder appears: the loss record comes first, then the newest lines, whole and in order.
        let server = try listener(at: settings.path)
        defer { close(server) }
        let deadline = Date().addingTimeInterval(10)
        var peer: Int32 = -1
        var received = Data()
        while Date() < deadline && (peer < 0 || sink.hasPending) {
            try sink.tick()
            if peer < 0 {
                var pfd = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 20) == 1 { peer = accept(server, nil, nil) }
            } else {
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                let n = recv(peer, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                if n > 0 { received.append(contentsOf: chunk[0..<n]) } else { usleep(5_000) }
            }
        }
        sink.close()
        try #require(peer >= 0, "the sink never connected")
        defer { close(peer) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while case let n = recv(peer, &chunk, chunk.count, Int32(MSG_DONTWAIT)), n > 0 { received.append(contentsOf: chunk[0..<n]) }

        let got = String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(got[0].utf8)) as? [String: Any], "first line: \(got.first ?? "")")
        let loss = try #require(record.path("bind.lost") as? [String: Any])
        let lost = try #require(loss["events"] as? Int)
        let kept = got.dropFirst().map { Int($0.dropFirst(5).prefix(7))! }
        #expect(record.path("event.action") as? String == "events-lost" && loss["source"] as? String == "unix")
        #expect(kept == Array((lines - kept.count + 1)...lines), "the newest lines, in order, each once")
        #expect(lost + kept.count == lines, "lost \(lost) + received \(kept.count) != \(lines)")
        #expect(loss["first_sequence"] as? Int == 1 && loss["last_sequence"] as? Int == lines - kept.count)
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
