import ArgumentParser
import BindsnoopCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct Bindsnoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bindsnoop",
        abstract: "Trace every IPv4 and IPv6 bind() on this host, successful or failed, as NDJSON.",
        discussion: """
            Each bind() becomes one JSON object per line on stdout (ECS field names; \
            schema: schemas/bind-event.v1.schema.json). Filters run in the kernel.

            Examples:
              bindsnoop | jq .                      every bind, live
              bindsnoop -P 80,443 --outcome failure failed binds to port 80 or 443
              bindsnoop --format table -t -U        BCC-style columns

            Exit codes: 0 stopped normally (signal, --max-events, --duration, closed stdout); \
            64 bad flag or value; 69 no attach mode works on this kernel; 70 broken build; \
            74 output error; 77 not root (needs CAP_BPF and CAP_PERFMON).
            """
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Only binds by this process id.", valueName: "PID"))
    var pid: Int64?

    @Option(name: [.customShort("P"), .long], help: ArgumentHelp("Only binds whose requested or bound port is listed (up to 64).", valueName: "PORT[,PORT...]"))
    var port: PortList?

    @Option(name: [.short, .long], help: ArgumentHelp("Only binds by this user id.", valueName: "UID"))
    var uid: Int64?

    @Option(help: ArgumentHelp("Only binds by tasks in this cgroup v2 directory or below.", valueName: "PATH"))
    var cgroup: String?

    @Option(help: "Which results to report: all, success or failure.")
    var outcome: OutcomeFilter = .all

    @Option(help: "Output: json (one event per line) or table (BCC's columns).")
    var format: OutputFormat = .json

    @Flag(name: .customShort("t"), help: "Table: include a TIME column (UTC).")
    var timestamp = false

    @Flag(name: .customShort("U"), help: "Table: include a UID column.")
    var printUID = false

    @Flag(name: .customShort("w"), help: "Table: wide address column for IPv6.")
    var wide = false

    @Option(help: ArgumentHelp("Stop after this many events.", valueName: "N"))
    var maxEvents: UInt64?

    @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"))
    var duration: Double?

    @Option(help: "Attach mode: auto (first that works of fentry, kprobe, tracepoint), fentry, kprobe or tracepoint.")
    var probe: ProbeSelection = .auto

    @Option(help: ArgumentHelp("Kernel ring buffer size: a power of two, at least 4KiB.", valueName: "SIZE"))
    var ringBufferSize: ByteSize = ByteSize(argument: "4MiB")!

    @Flag(name: .shortAndLong, help: "More diagnostics on stderr (-vv: libbpf's too).")
    var verbose: Int

    @Flag(name: .shortAndLong, help: "Only warnings and errors on stderr.")
    var quiet = false

    mutating func validate() throws {
        if let pid, pid <= 0 || pid > Int64(Int32.max) {
            throw ValidationError("--pid \(pid) is not a process id: give a positive number")
        }
        if let uid, uid < 0 || uid >= Int64(UInt32.max) {
            throw ValidationError("--uid \(uid) is not a user id: give a number from 0 to 4294967294")
        }
        if let port, port.ports.count > KernelFilter.maxPorts {
            throw ValidationError("--port lists \(port.ports.count) ports: at most \(KernelFilter.maxPorts) are allowed")
        }
        if let maxEvents, maxEvents == 0 {
            throw ValidationError("--max-events must be at least 1")
        }
        if let duration, !(duration > 0 && duration.isFinite) {
            throw ValidationError("--duration must be a positive number of seconds")
        }
        let size = ringBufferSize.bytes
        if size < 4096 || size > 1 << 30 || size & (size - 1) != 0 {
            throw ValidationError("--ring-buffer-size \(size) must be a power of two from 4KiB to 1GiB, e.g. 4MiB")
        }
        if format == .json && (timestamp || printUID || wide) {
            throw ValidationError("-t, -U and -w apply to --format table only")
        }
    }

    func run() throws {
        let signals = SignalWatcher()
        let level: Logger.Level = quiet ? .warning : verbose > 0 ? .debug : .info
        let logger = Logger(label: "bindsnoop") { _ in StderrLogHandler(logLevel: level) }
        BPFTracer.setLibbpfVerbosity(verbose)

        let filter = KernelFilter(pid: pid.map { UInt32($0) }, uid: uid.map { UInt32($0) }, cgroupPath: cgroup,
                                  outcome: outcome, ports: port?.ports ?? [])
        let tracer: BPFTracer
        do {
            tracer = try BPFTracer.start(selection: probe, filter: filter,
                                         ringBufferBytes: UInt32(ringBufferSize.bytes), logger: logger)
        } catch {
            fail(error.description, code: BindsnoopExit.code(for: error))
        }
        let table = format == .table ? TableEncoder(showTimestamp: timestamp, showUID: printUID, wide: wide) : nil
        let session = TraceSession(tracer: tracer, json: EventEncoder(host: .current()), table: table,
                                   sinks: [FileDescriptorSink.standardOutput()],
                                   limits: SessionLimits(maxEvents: maxEvents, duration: duration), logger: logger)
        do {
            _ = try session.run(signals: signals) {
                logger.info("attached: tracing bind() in \(tracer.mode.rawValue) mode", metadata: ["mode": "\(tracer.mode.rawValue)"])
                SystemdNotifier.notify("READY=1")
            }
        } catch {
            fail(error.description, code: BindsnoopExit.ioError)
        }
    }

    private func fail(_ message: String, code: Int32) -> Never {
        writeStandardError("bindsnoop: error: \(message)")
        Glibc.exit(code)
    }

    /// Errors as one line on stderr (no usage dump), help on stdout.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            writeStandardError("bindsnoop: error: \(message) (see bindsnoop --help)")
            Glibc.exit(code == .validationFailure ? BindsnoopExit.usage : code.rawValue)
        }
    }
}
