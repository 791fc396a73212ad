import ArgumentParser
import BindsnoopCore
import Foundation
import Logging
import Glibc

@main
struct Bindsnoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bindsnoop",
        abstract: "Trace every IPv4 and IPv6 bind() on this host, successful or failed, as NDJSON.",
        discussion: """
            Each bind() becomes one JSON object per line on stdout (ECS field names; \
            schema: schemas/bind-event.v1.schema.json). Filters run in the kernel.

            Examples:
              bindsnoop | jq .                        every bind, live
              bindsnoop -P 80,443 --outcome failure   failed binds to port 80 or 443
              bindsnoop --format table -t -U          BCC-style columns
              bindsnoop --count --duration 60         binds per address and port for a minute
              bindsnoop --config /etc/bindsnoop/bindsnoop.yaml --user nobody
                                                      outputs from a file, unprivileged once attached

            Settings come from --config FILE (YAML), then BINDSNOOP_* environment \
            variables, then flags, each overriding the one before; outputs (stdout, a \
            rotating zstd-compressed file, a forwarder's Unix socket) are configured there \
            (see docs/bindsnoop.example.yaml).

            Exit codes: 0 stopped normally (signal, --max-events, --duration, closed stdout); \
            64 bad flag or value; 69 no attach mode works on this kernel; 70 broken build; \
            71 the system refused a resource (signalfd); 74 output error; 77 not root (needs CAP_BPF and CAP_PERFMON), bpf(2) refused by seccomp or a \
            security module, or --user could not drop privileges; 78 bad configuration. Manual: man -l docs/bindsnoop.8
            """
    )

    @Option(help: ArgumentHelp("YAML configuration file (flags and BINDSNOOP_* variables override it).", valueName: "FILE"))
    var config: String?

    @OptionGroup(title: "Filters (applied in the kernel)")
    var filters: FilterOptions

    @OptionGroup(title: "Output")
    var output: OutputOptions

    @OptionGroup(title: "Stopping")
    var stopping: StopOptions

    @OptionGroup(title: "Kernel")
    var kernel: KernelOptions

    @OptionGroup(title: "Operations")
    var operations: OperationsOptions

    @Option(name: ConfigKeys.named("user")!.names, help: ConfigKeys.named("user")!.argumentHelp)
    var user: String?

    @Flag(name: .shortAndLong, help: "More diagnostics on stderr (-vv: libbpf's too).")
    var verbose: Int

    @Flag(name: .shortAndLong, help: "Only warnings and errors on stderr.")
    var quiet = false

    /// The file, then the environment, then these flags. An error in a
    /// flag's value is a usage error (64), any other a configuration error (78).
    private func resolveConfiguration() throws(Failure) -> Configuration {
        var flags: [String: String] = [:]
        let groups: [ConfigFlags] = [filters, output, stopping, kernel, operations]
        for (path, value) in groups.flatMap(\.values) { if let value { flags[path] = value } }
        if let user { flags["user"] = user }
        do {
            return try ConfigurationLoader.load(file: config, environment: ProcessInfo.processInfo.environment, flags: flags)
        } catch {
            throw Failure(error)
        }
    }

    func run() throws {
        let signals: SignalWatcher
        do {
            signals = try SignalWatcher()
        } catch {
            throw Failure("cannot watch for signals (signalfd: \(error.name)): raise the open-file limit (ulimit -n) or free memory",
                          code: BindsnoopExit.osError)
        }
        let level: Logger.Level = quiet ? .warning : verbose > 0 ? .debug : .info
        let logger = Logger(label: "bindsnoop") { _ in StderrLogHandler(logLevel: level) }
        BPFTracer.setLibbpfVerbosity(verbose)

        let settings = try resolveConfiguration()
        let dropTo: PrivilegeDrop?
        do {
            dropTo = try settings.user.map { user throws(ConfigError) in try PrivilegeDrop(user: user, source: settings.source(of: "user")) }
        } catch {
            throw Failure(error)
        }
        let table = settings.table
        if settings.format == .json && (table.timestamp || table.uid || table.wide) {
            throw Failure("-t, -U and -w apply to --format table only", code: BindsnoopExit.usage)
        }
        if settings.rateLimit != nil && (settings.format == .table || settings.count) {
            throw Failure("--rate-limit applies to JSON events only (its records have no place in a table or --count)", code: BindsnoopExit.usage)
        }
        // Bound first: a refused address fails before anything is loaded, and
        // the socket stays open after --user drops privileges.
        var metrics: MetricsState?
        var endpoint: MetricsEndpoint?
        if let address = settings.metricsAddress {
            let state = MetricsState()
            do {
                endpoint = try MetricsEndpoint(address: address, source: settings.source(of: "metrics.address"), serving: state)
            } catch {
                throw Failure(error)
            }
            metrics = state
        }
        defer { endpoint?.close() }
        let enrichment = Enrichment(runtimes: RuntimeState(root: settings.runtimeStateRoot), kubelet: KubeletLogs(root: settings.kubeletLogRoot))
        let sinks: [Sink]
        do {
            sinks = try SinkFactory.make(settings.sinks, sources: settings.source(of:), metrics: MetricEncoder(host: enrichment.host),
                                         logger: logger)
        } catch {
            if case .setup(let problem) = error { throw Failure(problem) }
            throw Failure(error.description, code: BindsnoopExit.ioError)
        }

        let tracer: BPFTracer
        do {
            tracer = try BPFTracer.start(selection: settings.probe, filter: settings.filter,
                                         ringBufferBytes: UInt32(settings.ringBufferSize),
                                         releaseSockets: settings.release && settings.format == .json && !settings.count
                                             ? settings.releaseMaxSockets : nil,
                                         overrides: kernel.overrides, logger: logger)
        } catch {
            if case .cgroup(let path, let code) = error {
                // Named as the user wrote it: --cgroup, BINDSNOOP_FILTERS_CGROUP or filters.cgroup.
                throw Failure(ConfigError(source: settings.source(of: "filters.cgroup"), TracerError.cgroupProblem(path: path, errno: code)))
            }
            throw Failure(error.description, code: BindsnoopExit.code(for: error))
        }
        metrics?.attached(MetricsState.Attachment(mode: tracer.mode, programs: tracer.programDescriptors,
                                                  ringBufferSize: settings.ringBufferSize))
        // Now that the hooks are live (and before --user drops the right to
        // load a program): a socket bound from here on is in the stream.
        let inventory = settings.inventory && settings.format == .json && !settings.count ? takeInventory(filter: settings.filter, tracer: tracer, logger: logger) : []
        let session: TraceSession
        do {
            session = try TraceSession(tracer: tracer, sinks: sinks, limits: settings.limits,
                                       operations: SessionOperations(heartbeatInterval: settings.heartbeatInterval, metrics: metrics),
                                       logger: logger)
        } catch {
            throw Failure(error.description, code: BindsnoopExit.code(for: error))
        }
        if let dropTo {
            do {
                for case let sink as FileOwningSink in sinks { try sink.handOver(to: dropTo.uid, gid: dropTo.gid) }
                try dropTo.apply()
            } catch {
                throw Failure("\(error)", code: BindsnoopExit.noPermission)
            }
            do {
                try dropTo.checkOutputs(settings.sinks, sources: settings.source(of:))
            } catch {
                throw Failure(error)
            }
            logger.debug("running unprivileged", metadata: ["user": "\(dropTo.name)", "uid": "\(dropTo.uid)"])
        }
        let mode: Reader.Mode = settings.count ? .count(settings.format) : settings.format == .table ? .table : .json
        let reader = Reader(mode: mode, table: TableEncoder(showTimestamp: table.timestamp, showUID: table.uid, wide: table.wide),
                            enrichment: enrichment, limits: settings.limits, rateLimit: settings.rateLimit)
        do {
            try session.run(reader, signals: signals, inventory: inventory) {
                logger.info("attached: tracing bind() in \(tracer.mode.rawValue) mode", metadata: [
                    "mode": "\(tracer.mode.rawValue)", "programs": "\(tracer.programs.joined(separator: ","))",
                    "live_after_ms": "\(Int((tracer.secondsToLive * 1000).rounded()))",
                    "outputs": "\(sinks.map(\.name).joined(separator: ","))",
                    "metrics": "\(settings.metricsAddress.map(\.description) ?? "off")",
                    "run": "\(enrichment.host.runID)",
                ])
                SystemdNotifier.notify("READY=1")
            }
        } catch {
            throw Failure(error.description, code: BindsnoopExit.ioError)
        }
    }

    /// The sockets bound before the start, as the tracing filters select
    /// them; none, with one line saying why, where the kernel cannot list them.
    private func takeInventory(filter: KernelFilter, tracer: BPFTracer, logger: Logger) -> [InventorySocket] {
        if filter.cgroupPath != nil {
            logger.notice("inventory at start: not taken with a cgroup filter (not supported yet); binds are reported from now on")
            return []
        }
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let (selected, skipped) = try Inventory.take(filter: filter, tracer: tracer)
            logger.info("inventory: \(selected.count) bound sockets", metadata: [
                "shared": "\(selected.filter { $0.holders > 1 }.count)",
                "ms": "\((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)",
            ])
            if skipped > 0 {
                logger.warning("inventory: \(skipped) descriptors past the first \(Inventory.maximumRecords) were not listed")
            }
            return selected
        } catch {
            logger.warning("\(error)")
            return []
        }
    }

    /// The one place errors become a line on stderr and an exit code: a
    /// `Failure` from `run()` as it is, argument-parser's errors (usage) with
    /// a pointer to --help; help itself on stdout.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as Failure {
            writeStandardError("bindsnoop: error: \(failure.message)")
            Glibc.exit(failure.code)
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
