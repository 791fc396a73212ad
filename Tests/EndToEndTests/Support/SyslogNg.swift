import Foundation
import Glibc
import Testing

/// A real syslog-ng receiving on a Unix socket, or tailing files, into a file: one line per message.
final class SyslogNg {
    let directory: String
    let socketPath: String
    let outputPath: String
    /// It listens on socketPath (else it reads files).
    let listens: Bool
    private var process: Process?

    /// The syslog-ng scripts/install-deps unpacked (TEST_SYSLOG_NG_ROOT, set by
    /// scripts/test-env: its libraries and modules found beside it), else the host's.
    static let installation: (executable: String, arguments: [String], environment: [String: String]) = {
        guard let root = TestEnvironment.syslogNgRoot,
              FileManager.default.isExecutableFile(atPath: "\(root)/usr/sbin/syslog-ng") else {
            return ("/usr/sbin/syslog-ng", [], [:])
        }
        let library = "\(root)/usr/lib/syslog-ng"
        let version = (try? FileManager.default.contentsOfDirectory(atPath: library))?.first { $0.first?.isNumber == true } ?? ""
        return ("\(root)/usr/sbin/syslog-ng", ["--module-path", "\(library)/\(version)"], ["LD_LIBRARY_PATH": library])
    }()

    convenience init(directory: String, mode: String) throws {
        let socket = "\(directory)/forwarder.sock"
        try self.init(directory: directory, output: "\(directory)/received.ndjson",
                      source: "\(mode == "stream" ? "unix-stream" : "unix-dgram")(\"\(socket)\" flags(no-parse))", socket: socket)
    }

    /// syslog-ng with this source, writing each message's text as a line.
    init(directory: String, output: String, source: String, socket: String? = nil) throws {
        self.directory = directory
        socketPath = socket ?? "\(directory)/no.sock"
        outputPath = output
        try """
            @version: 3.38
            options { stats-freq(0); log-msg-size(65536); log-fifo-size(1000000); };
            source s_bindsnoop { \(source); };
            destination d_file { file("\(outputPath)" template("$MSG\\n")); };
            log { source(s_bindsnoop); destination(d_file); };
            """.write(toFile: "\(directory)/syslog-ng.conf", atomically: true, encoding: .utf8)
        listens = socket != nil
        try start()
    }

    /// A configuration of the user's (deploy/pipelines/syslog-ng.conf) with
    /// its socket and output paths moved into `directory`.
    init(directory: String, recipe: String, socket: String, output: String) throws {
        self.directory = directory
        socketPath = "\(directory)/forwarder.sock"
        outputPath = "\(directory)/received.ndjson"
        listens = true
        let text = try String(contentsOfFile: recipe, encoding: .utf8)
        #expect(text.contains(socket) && text.contains(output), "the recipe no longer uses \(socket) and \(output)")
        try text.replacingOccurrences(of: socket, with: socketPath).replacingOccurrences(of: output, with: outputPath)
            .write(toFile: "\(directory)/syslog-ng.conf", atomically: true, encoding: .utf8)
        try start()
    }

    /// Starts it and waits for its socket (or, reading files, its control socket).
    func start() throws {
        // syslog-ng handles SIGTERM with a plain handler: it needs it unblocked (runUnmasked).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.installation.executable)
        process.environment = ProcessInfo.processInfo.environment.merging(Self.installation.environment) { $1 }
        process.arguments = Self.installation.arguments + [ "-F", "--no-caps", "-f", "\(directory)/syslog-ng.conf", "-R", "\(directory)/syslog-ng.persist",
                             "-p", "\(directory)/syslog-ng.pid", "-c", "\(directory)/syslog-ng.ctl"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.runUnmasked()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        let ready = listens ? socketPath : "\(directory)/syslog-ng.ctl"
        while !FileManager.default.fileExists(atPath: ready) && Date() < deadline { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: ready) else { throw HarnessError.failed("syslog-ng did not start") }
    }

    func restart() throws {
        stop()
        try start()
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.stop()
        try? FileManager.default.removeItem(atPath: socketPath)
    }

    /// Waits (at most `timeout`) until syslog-ng has written at least `lines`
    /// lines and then nothing more for `quiet` seconds: it holds nothing it
    /// has read and not written. syslog-ng 3.38 stopped while it is still
    /// taking in a stream drops what it had read and not yet written (the
    /// kernel had already told the sender those bytes were read):
    /// `scripts/syslog-ng-stop-loss 15` lost 15 to 84 lines in 5 to 8 of 15
    /// runs, also with `flags(flow-control)`, `log-fetch-limit(1)` or
    /// `log-fetch-limit(100000)`. No sender can see that loss; a graceful
    /// stop that tests bindsnoop comes once syslog-ng caught up.
    func waitUntilCaughtUp(lines: Int, quiet: Double = 0.3, timeout: Double = 20) {
        let deadline = Date().addingTimeInterval(timeout)
        var (offset, count, lastGrowth) = (UInt64(0), 0, Date())
        while Date() < deadline {
            if let handle = FileHandle(forReadingAtPath: outputPath) {
                try? handle.seek(toOffset: offset)
                let data = handle.readDataToEndOfFile()
                try? handle.close()
                if !data.isEmpty {
                    offset += UInt64(data.count)
                    count += data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                    lastGrowth = Date()
                }
            }
            if count >= lines && Date().timeIntervalSince(lastGrowth) >= quiet { return }
            usleep(50_000)
        }
    }

    /// kill -9: what it had read but not written is gone.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: socketPath)
    }
}
