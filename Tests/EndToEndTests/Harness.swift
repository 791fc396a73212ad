import Foundation
import Testing

/// Runs the built `bindsnoop` and `bindgen` as real processes. Needs root:
/// the tracer loads its BPF program into this machine's kernel.
enum Harness {
    static let buildDirectory: URL = {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent()
    }()

    static let packageDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var bindsnoop: URL { buildDirectory.appending(path: "bindsnoop") }
    static var bindgen: URL { buildDirectory.appending(path: "bindgen") }
    static var schema: URL { packageDirectory.appending(path: "schemas/bind-event.v1.schema.json") }
    static var validator: URL { packageDirectory.appending(path: "Tests/tools/validate-events.py") }

    static var isRoot: Bool { geteuid() == 0 }

    static var probe: String? { TestEnvironment.probeMode }

    static let extraArguments: [String] = (TestEnvironment.tracepointProgram.map { ["--tracepoint-program", $0] } ?? [])
        + (TestEnvironment.fieldByField ? ["--field-by-field-reads"] : [])

    static var expectedAutoMode: String? { TestEnvironment.expectedAutoMode }

    static func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appending(path: "bindsnoop-test-\(getpid())-\(UUID().uuidString)-\(name)")
    }
}

/// Every TEST_* variable the end-to-end tests read, in one place. The kernel
/// matrix (scripts/kernel-matrix-guest) sets most of them per cell;
/// scripts/test-env sets TEST_SYSLOG_NG_ROOT. Unset: the defaults below.
enum TestEnvironment {
    private static let environment = ProcessInfo.processInfo.environment

    /// TEST_PROBE_MODE=fentry|kprobe|tracepoint|cgroup: every tracer runs in that mode; otherwise the tool chooses.
    static let probeMode = environment["TEST_PROBE_MODE"]
    /// The modes ReleaseTests runs its churn in: TEST_PROBE_MODE's, else tracepoint and cgroup (this host's).
    static let releaseModes = probeMode.map { [$0] } ?? ["tracepoint", "cgroup"]
    /// TEST_TRACEPOINT_PROGRAM=cast|regs|pair: tracepoint mode with that program variant (pair: the one of
    /// kernels before 5.15, even where the exit-only one loads).
    static let tracepointProgram = environment["TEST_TRACEPOINT_PROGRAM"]
    /// TEST_FIELD_BY_FIELD=1: socket fields read one by one, the path of a kernel whose layout does not fit one copy.
    static let fieldByField = environment["TEST_FIELD_BY_FIELD"] == "1"
    /// TEST_EXPECT_AUTO_MODE: the mode `--probe auto` must choose on this kernel.
    static let expectedAutoMode = environment["TEST_EXPECT_AUTO_MODE"]
    /// TEST_EXPECT_MODES=fentry,tracepoint,…: the modes that must attach on this kernel (the matrix knows);
    /// a mode outside it that does not attach is skipped with a line, one inside it fails the test.
    static let expectedModes: Set<String>? = environment["TEST_EXPECT_MODES"].map { Set($0.split(separator: ",").map(String.init)) }
    /// TEST_STORM=1: the storm-right-after-attach tests run (the matrix's storm cell).
    static let storm = environment["TEST_STORM"] == "1"
    /// TEST_STORM_BINDS: the storm's size (20 000).
    static let stormBinds = Int(environment["TEST_STORM_BINDS"] ?? "") ?? 20_000
    /// TEST_TAIL_MAX_SIZE: the file sink's max_size in the tailer tests (4MiB).
    static let tailMaxSize = environment["TEST_TAIL_MAX_SIZE"] ?? "4MiB"
    /// TEST_HOOKS_BESIDE_TRACEPOINT=no: this kernel cannot run the cgroup hooks beside the tracepoint.
    static let hooksBesideTracepoint = environment["TEST_HOOKS_BESIDE_TRACEPOINT"] != "no"
    /// TEST_SYSLOG_NG_ROOT: a syslog-ng unpacked there (scripts/install-deps) instead of the host's.
    static let syslogNgRoot = environment["TEST_SYSLOG_NG_ROOT"]
}

/// A bindsnoop process whose stdout and stderr go to files.
final class Tracer {
    let process = Process()
    let stdoutURL = Harness.temporaryFile("stdout")
    let stderrURL = Harness.temporaryFile("stderr")

    /// Starts bindsnoop and waits for its `attached` line.
    init(_ arguments: [String], environment: [String: String] = [:], expectAttached: Bool = true) throws {
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = Harness.bindsnoop
        process.arguments = arguments + (Harness.probe.map { ["--probe", $0] } ?? []) + Harness.extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.runUnmasked()
        guard expectAttached else { return }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if StatusLine.attached(in: stderr) != nil { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        throw HarnessError.notAttached(stderr)
    }

    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    var stdoutData: Data { (try? Data(contentsOf: stdoutURL)) ?? Data() }
    var lines: [String] { String(decoding: stdoutData, as: UTF8.self).split(separator: "\n").map(String.init) }

    /// SIGINT, then the exit status once it has drained and flushed.
    @discardableResult
    func stop(signal: Int32 = SIGINT) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        return waitForExit()
    }

    func waitForExit(timeout: TimeInterval = 30) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    /// Every JSON line parsed; a line that is not a JSON object fails the test.
    func events(sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        lines.compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            return object
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel chose, listening
/// (a backlog of 1); the caller closes it. Its port is in use while it is open.
func listeningSocket() throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard fd >= 0, bound else {
        if fd >= 0 { close(fd) }
        throw HarnessError.failed("no TCP port on 127.0.0.1: \(errno)")
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// A TCP port free right now on 127.0.0.1 (the kernel's choice, released).
func freePort() throws -> UInt16 {
    let (fd, port) = try listeningSocket()
    close(fd)
    return port
}

/// GET with curl: the status and the body.
func get(_ url: String) throws -> (status: Int, body: String) {
    let result = try run(URL(fileURLWithPath: "/usr/bin/curl"), ["-s", "-m", "5", "-w", "\n%{http_code}", url])
    let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
}

func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(200_000)
    }
    return try condition()
}

extension Process {
    /// Starts it with no signal blocked. Test threads block signals (the
    /// runner's, and SignalWatcher's when bindsnoop's code runs in-process),
    /// a spawned child inherits the calling thread's mask, and a child with
    /// SIGTERM blocked outlives the test that started it (seen: a `tail -F`
    /// still running 45 minutes after `swift test`).
    func runUnmasked() throws {
        var empty = sigset_t()
        var previous = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try run()
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds; returns once it has.
    func stop(grace: Double = 5) {
        guard isRunning else { return }
        terminate()
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { usleep(10_000) }
        if isRunning { kill(processIdentifier, SIGKILL) }
        waitUntilExit()
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case notAttached(String)
    case failed(String)

    var description: String {
        switch self {
        case .notAttached(let stderr): "bindsnoop did not attach; its stderr:\n\(stderr)"
        case .failed(let detail): detail
        }
    }
}

/// Output and status of a finished child process.
struct Finished {
    var status: Int32
    var stdout: String
    var stderr: String
    var pid: Int32
}

/// Runs a program to completion, optionally feeding stdin after `beforeInput` ran with its pid.
@discardableResult
func run(_ executable: URL, _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
         beforeInput: ((Int32) throws -> Void)? = nil) throws -> Finished {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try process.runUnmasked()
    if let input {
        try beforeInput?(process.processIdentifier)
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Finished(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                    stderr: String(decoding: stderr, as: UTF8.self), pid: process.processIdentifier)
}

/// bindgen's result lines: `ok PORT` or `err ERRNO`.
extension Finished {
    var bindResults: [String] { stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("ok") || $0.hasPrefix("err") } }
}

/// Checks lines against the schema with the real jsonschema validator.
func validateAgainstSchema(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    guard !lines.isEmpty else { return }
    let file = Harness.temporaryFile("events.ndjson")
    defer { try? FileManager.default.removeItem(at: file) }
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
    let result = try run(URL(fileURLWithPath: "/usr/bin/env"),
                         ["python3", Harness.validator.path, Harness.schema.path, file.path])
    #expect(result.status == 0, "schema validation failed:\n\(result.stdout)\(result.stderr)", sourceLocation: sourceLocation)
}

extension Dictionary where Key == String, Value == Any {
    func path(_ dotted: String) -> Any? {
        var current: Any? = self
        for key in dotted.split(separator: ".") {
            current = (current as? [String: Any])?[String(key)]
        }
        return current
    }
}

extension Trait where Self == ConditionTrait {
    /// Tests that load BPF programs (or switch users) run as root only; as
    /// anyone else they are skipped, saying why.
    static var root: Self { root("loads BPF programs: run as root (sudo scripts/test)") }

    static func root(_ reason: Comment) -> Self { .enabled(if: Harness.isRoot, reason) }
}

/// A C program of Tests/tools built with gcc and `flags`, in a temporary file.
func buildTool(_ source: String, flags: [String], needs package: String) throws -> URL {
    let output = Harness.temporaryFile(source)
    let path = Harness.packageDirectory.appending(path: "Tests/tools/\(source)").path
    let built = try run(URL(fileURLWithPath: "/usr/bin/gcc"), flags + ["-O2", "-o", output.path, path])
    guard built.status == 0 else {
        throw HarnessError.failed("gcc \(flags.joined(separator: " ")) \(source) failed (install \(package)): \(built.stderr)")
    }
    return output
}
