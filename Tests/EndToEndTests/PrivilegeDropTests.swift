import Foundation
import Testing

/// After attaching, `--user` leaves bindsnoop with no capability at all,
/// and events still flow: to stdout, and to a file that keeps rotating.
@Suite(.serialized) struct PrivilegeDropTests {
    private func status(of pid: Int32) -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    @Test(.root) func runsUnprivilegedAfterAttachAndStillDelivers() throws {
        let directory = Harness.temporaryFile("drop")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: directory) }
        let logs = directory.path + "/logs"
        let config = directory.path + "/bindsnoop.yaml"
        try "sinks:\n  stdout: {enabled: true}\n  file: {path: \(logs)/bind.ndjson, max_size: 16KiB, compress_after: 1ms}\n"
            .write(toFile: config, atomically: true, encoding: .utf8)

        var tracer: Tracer?
        var seen: [String: String] = [:]
        let load = try run(Harness.bindgen, ["--wait-stdin", "--count", "300", "--quiet"], input: "go\n") { pid in
            let t = try Tracer(["--config", config, "--user", "nobody", "--pid", "\(pid)"])
            seen = status(of: t.process.processIdentifier)
            tracer = t
        }
        let t = try #require(tracer)
        usleep(300_000)
        #expect(t.stop() == 0, "\(t.stderr)")
        #expect(seen["Uid"]?.split(separator: "\t").allSatisfy { $0 == "65534" } == true, "Uid: \(seen["Uid"] ?? "?")")
        for set in ["CapPrm", "CapEff", "CapAmb", "CapBnd"] {
            #expect(seen[set] == "0000000000000000", "\(set): \(seen[set] ?? "?")")
        }
        #expect(seen["NoNewPrivs"] == "1")
        let mine = t.events().filter { $0.path("process.pid") as? Int == Int(load.pid) && $0.path("event.action") as? String == "bind" }
        #expect(mine.count == 300, "every bind still reported after the drop")
        let rotated = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasSuffix(".ndjson.zst") }
        #expect(rotated.count >= 2, "rotation and compression go on unprivileged: \(rotated)")
        for name in rotated {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(logs)/\(name)")
            #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 65534)
        }
    }

    /// A flag's value: a usage error (from a variable or the file: 78, ConfigSourceTests).
    @Test func unknownOrRootUserIsAUsageError() throws {
        for user in ["no-such-user-here", "root", "0"] {
            let result = try run(Harness.bindsnoop, ["--user", user])
            #expect(result.status == 64, "\(user): \(result.stderr)")
            #expect(result.stderr.contains("--user"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }

    /// Issue 21: what the outputs will need after --user is tried as the user
    /// before `attached`: a file directory inside a root-only parent, a socket
    /// the user may not connect to. Exit 78, one line naming the key.
    @Test(.root, arguments: ["file", "unix"])
    func anOutputTheUserCannotReachIsRefusedAtStart(sink: String) throws {
        let directory = Harness.temporaryFile("unreachable")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: directory) }
        var listener: Process?
        defer { listener?.stop() }
        let section: String
        if sink == "file" {
            let parent = directory.path + "/root-only"
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            section = "file: {path: \(parent)/logs/bind.ndjson}"
        } else {
            // A forwarder's socket only root may connect to (mode 0600, root's).
            let socket = directory.path + "/forwarder.sock"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", "import os, socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o600); s.listen(); time.sleep(60)", socket]
            try process.runUnmasked()
            listener = process
            #expect(waitFor(5) { FileManager.default.fileExists(atPath: socket) })
            section = "unix: {path: \(socket)}"
        }
        let config = directory.path + "/bindsnoop.yaml"
        try "sinks:\n  \(section)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let tracer = try Tracer(["--config", config, "--user", "nobody"], expectAttached: false)
        #expect(tracer.waitForExit() == 78, "\(tracer.stderr)")
        let errors = tracer.stderr.split(separator: "\n").filter { $0.contains("error:") }
        #expect(errors.count == 1, "\(tracer.stderr)")
        #expect(errors.first?.contains("error: sinks.\(sink).path: nobody (uid 65534)") == true, "\(tracer.stderr)")
        #expect(errors.first?.contains("EACCES") == true, "\(tracer.stderr)")
        #expect(StatusLine.attached(in: tracer.stderr) == nil, "refused before attached: \(tracer.stderr)")
    }
}
