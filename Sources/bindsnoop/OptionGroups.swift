import ArgumentParser
import BindsnoopCore

// The command line's option groups, in the order --help shows them.

/// Which binds to report; every filter runs in the kernel.
struct FilterOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("Only binds by this process id.", valueName: "PID"))
    var pid: Int64?

    @Option(name: [.customShort("P"), .long], help: ArgumentHelp("Only binds whose requested or bound port is listed (up to 64).", valueName: "PORT[,PORT...]"))
    var port: PortList?

    @Option(name: [.short, .long], help: ArgumentHelp("Only binds by this user id.", valueName: "UID"))
    var uid: Int64?

    @Option(help: ArgumentHelp("Only binds by tasks in this cgroup v2 directory or below.", valueName: "PATH"))
    var cgroup: String?

    @Option(help: "Which results to report: all (default), success or failure.")
    var outcome: OutcomeFilter?
}

/// How events are written (where: see --config).
struct OutputOptions: ParsableArguments {
    @Option(help: "Output: json (one event per line, default) or table (BCC's columns).")
    var format: OutputFormat?

    @Flag(help: "Count binds per local address and port; print the counts at exit instead of each bind.")
    var count = false

    @Flag(name: .customShort("t"), help: "Table: include a TIME column (UTC).")
    var timestamp = false

    @Flag(name: .customShort("U"), help: "Table: include a UID column.")
    var printUID = false

    @Flag(name: .customShort("w"), help: "Table: wide address column for IPv6.")
    var wide = false
}

/// Stopping by itself (otherwise SIGINT or SIGTERM).
struct StopOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Stop after this many events.", valueName: "N"))
    var maxEvents: UInt64?

    @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"))
    var duration: Double?
}

/// How bindsnoop attaches to the kernel.
struct KernelOptions: ParsableArguments {
    @Flag(help: ArgumentHelp("Tracepoint mode: use the entry + exit program pair of kernels before 5.15 (for tests).",
                             visibility: .hidden))
    var tracepointEntryExit = false

    @Option(help: "Attach mode: auto (default: first that works of fentry, kprobe, tracepoint), fentry, kprobe or tracepoint.")
    var probe: ProbeSelection?

    @Option(help: ArgumentHelp("Kernel ring buffer size: a power of two from 4KiB to 1GiB (default 2MiB).", valueName: "SIZE"))
    var ringBufferSize: ByteSize?
}
