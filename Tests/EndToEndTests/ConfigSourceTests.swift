import Foundation
import Testing

/// Checks made after loading name the value as the user wrote it — the
/// flag, the BINDSNOOP_* variable or the file's key — and exit 64 for a flag,
/// 78 for a variable or the file (the README's exit codes).
@Suite struct ConfigSourceTests {
    private struct Case: Sendable, CustomStringConvertible {
        var arguments: [String] = []
        var environment: [String: String] = [:]
        var file: String?
        var status: Int32
        var names: String
        var description: String { "\(names) → \(status)" }
    }

    /// Runs the case; returns its stderr.
    @discardableResult
    private func check(_ c: Case, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        var arguments = c.arguments + ["--duration", "1"]
        var configFile: URL?
        if let text = c.file {
            let url = Harness.temporaryFile("config.yaml")
            try text.write(to: url, atomically: true, encoding: .utf8)
            arguments += ["--config", url.path]
            configFile = url
        }
        defer { if let configFile { try? FileManager.default.removeItem(at: configFile) } }
        let result = try run(Harness.bindsnoop, arguments, environment: c.environment)
        #expect(result.status == c.status, "\(c): status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(c): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("error: \(c.names):"), "\(c): \(result.stderr)", sourceLocation: sourceLocation)
        return result.stderr
    }

    /// No such user: checked before anything is loaded (no root needed).
    @Test func aBadUserIsNamedWhereItWasWritten() throws {
        try check(Case(arguments: ["--user", "no-such-user-x"], status: 64, names: "--user"))
        try check(Case(environment: ["BINDSNOOP_USER": "no-such-user-x"], status: 78, names: "BINDSNOOP_USER"))
        try check(Case(file: "user: no-such-user-x\n", status: 78, names: "user"))
    }

    /// The file sink's directory is a regular file: refused when the sink opens, before the kernel program loads.
    @Test func anUnusableFileSinkPathIsNamedWhereItWasWritten() throws {
        try check(Case(environment: ["BINDSNOOP_SINKS_FILE_PATH": "/etc/passwd/bind.ndjson"], status: 78,
                       names: "BINDSNOOP_SINKS_FILE_PATH"))
        try check(Case(file: "sinks:\n  file: {path: /etc/passwd/bind.ndjson}\n", status: 78, names: "sinks.file.path"))
    }

    /// A cgroup path that is no directory: found when the filter is filled, after load (root).
    @Test(.root) func aBadCgroupIsNamedWhereItWasWritten() throws {
        try check(Case(arguments: ["--cgroup", "/no/such/cgroup"], status: 64, names: "--cgroup"))
        try check(Case(environment: ["BINDSNOOP_FILTERS_CGROUP": "/no/such/cgroup"], status: 78, names: "BINDSNOOP_FILTERS_CGROUP"))
        try check(Case(file: "filters: {cgroup: /no/such/cgroup}\n", status: 78, names: "filters.cgroup"))
    }

    /// A metrics address another socket holds: refused at bind, before anything is loaded.
    @Test func anAddressInUseIsNamedWhereItWasWritten() throws {
        let (holder, port) = try listeningSocket()
        defer { close(holder) }
        let held = "127.0.0.1:\(port)"
        let refused = try check(Case(arguments: ["--metrics-address", held], status: 64, names: "--metrics-address"))
        #expect(refused.contains("EADDRINUSE") && refused.contains("another process listens there"), "\(refused)")
        try check(Case(environment: ["BINDSNOOP_METRICS_ADDRESS": held], status: 78, names: "BINDSNOOP_METRICS_ADDRESS"))
        try check(Case(file: "metrics: {address: \"\(held)\"}\n", status: 78, names: "metrics.address"))
    }

    /// Refused at load: the key or variable named, exit 78.
    @Test(arguments: [
        ("sinks:\n  file: {path: /tmp/x.ndjson, max_sise: 1MiB}\n", "sinks.file.max_sise"),
        ("sinks:\n  file: {path: /tmp/x.ndjson, max_size: -1}\n", "sinks.file.max_size"),
        ("sinks:\n  unix: {path: relative.sock}\n", "sinks.unix.path"),
        ("filters: {pid: [1]}\n", "filters.pid"),
        ("sinks:\n  file: {path: /proc/bindsnoop/bind.ndjson}\n", "sinks.file.path"),
    ])
    func badConfigurationExits78(yaml: String, key: String) throws {
        let dir = try SinkFixture.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(Harness.bindsnoop, ["--config", try SinkFixture.config(yaml, in: dir)])
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(key), "\(result.stderr)")
    }

    @Test func badEnvironmentExits78() throws {
        let process = Process()
        process.executableURL = Harness.bindsnoop
        process.environment = ["BINDSNOOP_SINKS_FILE_PATHH": "/tmp/x"]
        let err = Pipe()
        process.standardError = err
        try process.runUnmasked()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 78)
        #expect(stderr.contains("BINDSNOOP_SINKS_FILE_PATHH"))
    }
}

/// Issue 21: what `--config` may be pointed at by mistake, through the real
/// binary: one bounded line with the true reason, exit 78, and a 50 MB file
/// refused by its size, before it is read.
@Suite struct ConfigFileInputTests {
    @Test func whatIsNoConfigurationFileIsRefusedInOneBoundedLine() throws {
        let dir = try SinkFixture.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = "\(dir)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let huge = "\(dir)/huge.yaml"
        // One invalid line of 50 MB, as in the issue.
        #expect(FileManager.default.createFile(atPath: huge, contents: Data("probe: ".utf8) + Data(repeating: UInt8(ascii: "x"), count: 50 << 20)))
        let nul = "\(dir)/nul.yaml"
        try Data("probe: trace\u{0}point\n".utf8).write(to: URL(fileURLWithPath: nul))
        let long = "\(dir)/long.yaml"
        try Data(("probe: \"" + String(repeating: "y", count: 100_000) + "\"\n").utf8).write(to: URL(fileURLWithPath: long))
        // Named by the file's path; a bad value by its key.
        for (path, names, says) in [(dir, dir, "is a directory"), (fifo, fifo, "is a FIFO"), ("/dev/zero", "/dev/zero", "is a device"),
                                    (huge, huge, "at most 1 MiB"), (nul, nul, "near 'probe: trace\\x00point'"),
                                    (long, "probe", "more bytes)' is not one of auto")] {
            let result = try run(Harness.bindsnoop, ["--config", path])
            #expect(result.status == 78, "\(path): \(result.status) \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("bindsnoop: error: \(names): "), "\(path): \(result.stderr.prefix(1000))")
            #expect(result.stderr.contains(says), "\(path): \(result.stderr.prefix(1000))")
            #expect(result.stderr.utf8.count < 600, "\(path): \(result.stderr.utf8.count) bytes")
            #expect(!result.stderr.dropLast().unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(path): control bytes")
        }
    }
}
