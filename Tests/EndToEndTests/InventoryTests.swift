import Foundation
import Glibc
import Testing

/// A process holding bound sockets (Tests/tools/socket-holder.py): started
/// before bindsnoop, described by the JSON line it prints, stopped by
/// closing its stdin (and killed at deinit if a test failed first).
final class SocketHolder {
    struct Socket: Decodable {
        var proto: String
        var family: Int
        var ip: String
        var port: Int
        var inode: UInt64
        var listening: Bool
    }

    struct Description: Decodable {
        var pid: Int32
        var child: Int32
        var sockets: [Socket]
    }

    let process = Process()
    private let input = Pipe()
    let description: Description

    /// `netns`: run inside that `ip netns` namespace.
    init(_ specs: [String], fork: Bool = false, netns: String? = nil) throws {
        let holder = Harness.packageDirectory.appending(path: "Tests/tools/socket-holder.py").path
        let arguments = ["python3", holder] + (fork ? ["--fork"] : []) + specs
        if let netns {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", netns] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
        }
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.runUnmasked()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        do {
            description = try JSONDecoder().decode(Description.self, from: line)
        } catch {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw HarnessError.failed("socket-holder.py \(specs) printed \(String(decoding: line, as: UTF8.self)): \(error)")
        }
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        if description.child > 0 { kill(description.child, SIGKILL) }
    }
}

/// A network namespace of the test's own (`ip netns add`), deleted at deinit.
final class NetworkNamespace {
    let name = "bsn-\(UUID().uuidString.prefix(8).lowercased())"
    let inode: UInt64

    init() throws {
        for command in [["netns", "add", name], ["netns", "exec", name, "ip", "link", "set", "lo", "up"]] {
            let result = try run(URL(fileURLWithPath: "/usr/sbin/ip"), command)
            guard result.status == 0 else { throw HarnessError.failed("ip \(command.joined(separator: " ")): \(result.stderr)") }
        }
        var status = stat()
        guard stat("/run/netns/\(name)", &status) == 0 else { throw HarnessError.failed("no /run/netns/\(name)") }
        inode = UInt64(status.st_ino)
    }

    deinit {
        _ = try? run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "del", name])
    }
}

/// The inventory at start: the sockets bound before bindsnoop started, one
/// line each (event.kind "state"), with their owner, and with the binds made
/// since, the set the kernel itself lists.
@Suite struct InventoryTests {
    /// Every kind of bound socket, IPv4 and IPv6, held by a process and the
    /// child it forked: one line per socket (not per descriptor), owned by
    /// the parent (it started first), two holders, the socket's inode as its
    /// id; a connected client socket is not listed.
    @Test(.root) func socketsBoundBeforeTheStartAreListedOnceWithTheirOwner() throws {
        let holder = try SocketHolder(["tcp4-listen", "tcp6-listen", "tcp4-bound", "tcp6-bound", "udp4", "udp6"], fork: true)
        defer { holder.stop() }
        // A client: connected to the listener, so it has a local port too.
        let listener = try #require(holder.description.sockets.first { $0.listening && $0.family == 4 })
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(listener.port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)

        let tracer = try Tracer(["--pid", "\(holder.description.pid)"])
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        let lines = tracer.events().filter { $0.path("event.kind") as? String == "state" }
        #expect(tracer.stderr.contains("inventory: 6 bound sockets"), "\(tracer.stderr)")
        #expect(lines.count == holder.description.sockets.count, "\(tracer.lines)")
        let ownExecutable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder.description.pid)/exe")
        for made in holder.description.sockets {
            let matching = lines.filter { ($0.path("bind.socket_id") as? Int).map(UInt64.init) == made.inode }
            #expect(matching.count == 1, "\(made)")
            guard let line = matching.first else { continue }
            #expect(line.path("event.action") as? String == "inventory")
            #expect(line.path("network.transport") as? String == made.proto)
            #expect(line.path("network.type") as? String == (made.family == 6 ? "ipv6" : "ipv4"))
            #expect(line.path("server.ip") as? String == made.ip)
            #expect(line.path("server.port") as? Int == made.port)
            #expect(line.path("bind.inventory.listening") as? Bool == made.listening)
            #expect(line.path("bind.inventory.holders") as? Int == 2, "the parent and its forked child")
            #expect(line.path("process.pid") as? Int == Int(holder.description.pid), "the process that started first")
            #expect(line.path("process.executable") as? String == ownExecutable)
            #expect((line.path("process.entity_id") as? String)?.utf8.count == 32)
            #expect(line.path("bind.netns") as? Int == Int(try Self.networkNamespace(of: holder.description.pid)))
        }
        try validateAgainstSchema(tracer.lines)
    }

    /// `inventory.enabled: false` (here as its variable): binds only.
    @Test(.root) func theInventoryCanBeTurnedOff() throws {
        let holder = try SocketHolder(["tcp4-listen", "udp4"])
        defer { holder.stop() }
        let tracer = try Tracer(["--pid", "\(holder.description.pid)"], environment: ["BINDSNOOP_INVENTORY_ENABLED": "false"])
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        #expect(!tracer.lines.contains { $0.contains(#""kind":"state""#) }, "\(tracer.lines)")
        #expect(!tracer.stderr.contains("inventory:"), "\(tracer.stderr)")
    }

    /// A namespace of the test's own: sockets bound there before the start
    /// (some released while bindsnoop runs), then more bound while it runs
    /// (some released again). The stream's set (inventory + binds -
    /// releases, Tests/tools/bound-sockets.py) equals what `ss` lists inside
    /// the namespace, pid and holders included; the TCP socket that is
    /// bound only (ss shows it from 6.8 on) is in the stream as bound-only.
    @Test(.root) func theStreamsSetEqualsTheKernelsInANamespace() throws {
        let netns = try NetworkNamespace()
        let before = try SocketHolder(["tcp4-listen", "tcp6-listen", "udp4", "udp6", "tcp4-bound"], fork: true, netns: netns.name)
        defer { before.stop() }
        let gone = try SocketHolder(["tcp4-listen", "udp4"], fork: true, netns: netns.name)
        let tracer = try Tracer([])
        defer { tracer.stop() }
        let after = try SocketHolder(["tcp4-listen", "udp6"], netns: netns.name)
        defer { after.stop() }
        let brief = try SocketHolder(["tcp6-listen", "udp4"], netns: netns.name)
        gone.stop()
        brief.stop()
        usleep(300_000)  // the binds' lines written (the reader flushes every 10 ms)

        let compared = try run(URL(fileURLWithPath: "/usr/bin/env"),
                               ["python3", Harness.packageDirectory.appending(path: "Tests/tools/bound-sockets.py").path,
                                tracer.stdoutURL.path, "--netns", netns.name])
        #expect(compared.status == 0, "\(compared.stdout)\(compared.stderr)")
        let same = compared.stdout.split(separator: "\n").filter { $0.hasPrefix("same:") }
        #expect(same.count == 6, "4 listening or UDP sockets before, 2 after: \(compared.stdout)")
        #expect(compared.stdout.contains("releases: 4"), "the two holders that stopped: \(compared.stdout)")
        let bound = try #require(before.description.sockets.first { $0.proto == "tcp" && !$0.listening })
        #expect(compared.stdout.contains("bound-only: tcp \(bound.ip) \(bound.port) pid \(before.description.pid)"), "\(compared.stdout)")
        let lines = tracer.events().filter { $0.path("bind.netns") as? Int == Int(netns.inode) }
        #expect(lines.filter { $0.path("event.kind") as? String == "state" }.count == 7)
        #expect(lines.filter { $0.path("event.action") as? String == "bind" }.count == 4)
        try validateAgainstSchema(tracer.lines)
    }

    static func networkNamespace(of pid: Int32) throws -> UInt64 {
        var status = stat()
        guard stat("/proc/\(pid)/ns/net", &status) == 0 else { throw HarnessError.failed("no /proc/\(pid)/ns/net") }
        return UInt64(status.st_ino)
    }
}
