import ArgumentParser
import BindsnoopCore

// The command line's option groups, in the order --help shows them. Every
// option that is also a configuration key takes its names and help from
// `ConfigKeys` and hands its value over as text: the configuration loader
// checks it, as it checks the file and the environment.

extension ConfigKey {
    var names: NameSpecification {
        switch (short, flag) {
        case (let short?, let flag?): [.customShort(short), .customLong(flag)]
        case (let short?, nil): [.customShort(short)]
        case (nil, let flag?): [.customLong(flag)]
        case (nil, nil): preconditionFailure("\(path) has no flag")
        }
    }

    var argumentHelp: ArgumentHelp { ArgumentHelp(help, valueName: valueName) }
}

private func key(_ path: String) -> ConfigKey { ConfigKeys.named(path)! }

/// Flags given, as the loader takes them: key path → value text.
protocol ConfigFlags {
    var values: [(path: String, value: String?)] { get }
}

/// Which binds to report; every filter runs in the kernel.
struct FilterOptions: ParsableArguments, ConfigFlags {
    @Option(name: key("filters.pid").names, help: key("filters.pid").argumentHelp)
    var pid: String?

    @Option(name: key("filters.ports").names, help: key("filters.ports").argumentHelp)
    var port: String?

    @Option(name: key("filters.uid").names, help: key("filters.uid").argumentHelp)
    var uid: String?

    @Option(name: key("filters.cgroup").names, help: key("filters.cgroup").argumentHelp)
    var cgroup: String?

    @Option(name: key("filters.outcome").names, help: key("filters.outcome").argumentHelp)
    var outcome: String?

    var values: [(path: String, value: String?)] {
        [("filters.pid", pid), ("filters.ports", port), ("filters.uid", uid), ("filters.cgroup", cgroup),
         ("filters.outcome", outcome)]
    }
}

/// How events are written (where: see --config).
struct OutputOptions: ParsableArguments, ConfigFlags {
    @Option(name: key("format").names, help: key("format").argumentHelp)
    var format: String?

    @Flag(name: key("count").names, help: key("count").argumentHelp)
    var count = false

    @Flag(name: key("table.timestamp").names, help: key("table.timestamp").argumentHelp)
    var timestamp = false

    @Flag(name: key("table.uid").names, help: key("table.uid").argumentHelp)
    var printUID = false

    @Flag(name: key("table.wide").names, help: key("table.wide").argumentHelp)
    var wide = false

    @Option(name: key("rate_limit").names, help: key("rate_limit").argumentHelp)
    var rateLimit: String?

    var values: [(path: String, value: String?)] {
        [("format", format), ("count", count ? "true" : nil), ("table.timestamp", timestamp ? "true" : nil),
         ("table.uid", printUID ? "true" : nil), ("table.wide", wide ? "true" : nil), ("rate_limit", rateLimit)]
    }
}

/// What operators watch: metrics and health.
struct OperationsOptions: ParsableArguments, ConfigFlags {
    @Option(name: key("metrics.address").names, help: key("metrics.address").argumentHelp)
    var metricsAddress: String?

    var values: [(path: String, value: String?)] {
        [("metrics.address", metricsAddress)]
    }
}

/// Stopping by itself (otherwise SIGINT or SIGTERM).
struct StopOptions: ParsableArguments, ConfigFlags {
    @Option(name: key("limits.max_events").names, help: key("limits.max_events").argumentHelp)
    var maxEvents: String?

    @Option(name: key("limits.duration").names, help: key("limits.duration").argumentHelp)
    var duration: String?

    var values: [(path: String, value: String?)] {
        [("limits.max_events", maxEvents), ("limits.duration", duration)]
    }
}

/// How bindsnoop attaches to the kernel.
struct KernelOptions: ParsableArguments, ConfigFlags {
    @Option(help: ArgumentHelp("Tracepoint mode: this program variant (cast: 6.2+, regs: 5.15+, pair: any) instead of the best the kernel runs (for tests).",
                               valueName: "cast|regs|pair", visibility: .hidden))
    var tracepointProgram: TracepointVariant?

    @Flag(help: ArgumentHelp("Read sockets field by field, as where a kernel's layout does not fit one copy (for tests).",
                             visibility: .hidden))
    var fieldByFieldReads = false

    var overrides: ProgramOverrides {
        ProgramOverrides(tracepointVariant: tracepointProgram, fieldByField: fieldByFieldReads)
    }

    @Option(name: key("probe").names, help: key("probe").argumentHelp)
    var probe: String?

    @Option(name: key("ring_buffer_size").names, help: key("ring_buffer_size").argumentHelp)
    var ringBufferSize: String?

    var values: [(path: String, value: String?)] {
        [("probe", probe), ("ring_buffer_size", ringBufferSize)]
    }
}

extension TracepointVariant: ExpressibleByArgument {}
