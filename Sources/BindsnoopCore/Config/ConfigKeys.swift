import Yams

/// One setting: where it lives in the YAML file, the flag that sets it too
/// (if any), what it means, and how its value is read, checked and applied.
/// Everything that lists settings derives from `ConfigKeys.all`: the keys
/// the file may hold, the `BINDSNOOP_*` variables, the flags' names and help,
/// and `docs/bindsnoop.example.yaml`.
public struct ConfigKey: Sendable {
    /// Dotted YAML path: `sinks.file.max_size`.
    public let path: String
    /// The long flag without dashes, and its one-letter form.
    public let flag: String?
    public let short: Character?

    /// How the command line spells it: `--pid`, or `-t` for a letter alone.
    public var flagName: String? { flag.map { "--\($0)" } ?? short.map { "-\($0)" } }
    /// What to write after the flag in --help (`PID`, `SIZE`); nil for a switch.
    public let valueName: String?
    /// One sentence, for --help and the example file.
    public let help: String
    /// The value the example file shows; `commented`: shown commented out
    /// (a setting that is off unless given).
    public let example: String
    public let commented: Bool
    let apply: @Sendable (inout ConfigDraft, Node) throws -> Void

    /// `BINDSNOOP_` + the path in capitals joined by `_`.
    public var variable: String { "BINDSNOOP_" + path.split(separator: ".").joined(separator: "_").uppercased() }

    /// The section the key belongs to (`sinks.file`), "" at the top.
    var section: String { path.split(separator: ".").dropLast().joined(separator: ".") }
    var name: String { String(path.split(separator: ".").last!) }

    /// A key whose YAML value decodes as `T`, then is checked and stored by `store`.
    static func key<T: Decodable & SendableMetatype>(_ path: String, _ type: T.Type, flag: String? = nil, short: Character? = nil,
                                  valueName: String? = nil, example: String, commented: Bool = false, _ help: String,
                                  store: @escaping @Sendable (inout ConfigDraft, T) throws(ConfigError) -> Void) -> ConfigKey {
        ConfigKey(path: path, flag: flag, short: short, valueName: valueName, help: help, example: example, commented: commented) {
            draft, node in try store(&draft, try YAMLDecoder().decode(T.self, from: node))
        }
    }
}

/// The configuration as it is being assembled: sink sections are kept apart
/// until every key is read, because whether one is on, and its required
/// path, may come from different sources.
struct ConfigDraft {
    var config = Configuration()
    var file: FileSinkSettings?
    var fileEnabled = true
    var unix: UnixSinkSettings?
    var unixEnabled = true

    /// The sections present (a `file:` with no keys still turns the sink on).
    mutating func begin(section: String) {
        if section == "sinks.file", file == nil { file = FileSinkSettings(path: "") }
        if section == "sinks.unix", unix == nil { unix = UnixSinkSettings(path: "") }
    }

    func configuration() throws(ConfigError) -> Configuration {
        var config = self.config
        if let file, fileEnabled {
            guard !file.path.isEmpty else { throw ConfigError(key: "sinks.file.path", "required: the active log file, e.g. /var/log/bindsnoop/bind.ndjson") }
            config.sinks.file = file
        }
        if let unix, unixEnabled {
            guard !unix.path.isEmpty else { throw ConfigError(key: "sinks.unix.path", "required: the forwarder's socket, e.g. /run/vector/bindsnoop.sock") }
            config.sinks.unix = unix
        }
        return config
    }
}

public enum ConfigKeys {
    public static let all: [ConfigKey] = general + filters + table + limits + operations + sinks

    static let general: [ConfigKey] = [
        .key("probe", String.self, flag: "probe", valueName: "MODE", example: "auto",
             "Attach mode: auto (the first of fentry, kprobe, tracepoint that works), one of them, or cgroup (costs nothing outside bind; failed binds carry no errno).") { draft, value throws(ConfigError) in
            guard let selection = ProbeSelection(argument: value) else {
                throw ConfigError(key: "probe", "'\(ConfigError.excerpt(value))' is not one of auto, fentry, kprobe, tracepoint, cgroup")
            }
            draft.config.probe = selection
        },
        .key("format", OutputFormat.self, flag: "format", valueName: "FORMAT", example: "json",
             "Output: json (one event per line, schemas/bind-event.v1.schema.json) or table (BCC's columns).") { draft, value in
            draft.config.format = value
        },
        .key("count", Bool.self, flag: "count", example: "false",
             "Count binds per local address and port; print the counts at exit instead of each bind.") { draft, value in
            draft.config.count = value
        },
        .key("ring_buffer_size", ByteCount.self, flag: "ring-buffer-size", valueName: "SIZE", example: "2MiB",
             "Kernel ring buffer: a power of two from 4KiB to 1GiB; larger rides out longer bursts.") { draft, value throws(ConfigError) in
            draft.config.ringBufferSize = try Validate.ringBufferSize(value.bytes, key: "ring_buffer_size")
        },
        .key("user", String.self, flag: "user", valueName: "USER", example: "nobody", commented: true,
             "After attaching and opening the outputs, run as this user with no capabilities (a file sink's directory, active file and lock become theirs; a Unix socket must be connectable by them).") { draft, value in
            draft.config.user = value
        },
        .key("kubelet_log_root", String.self, example: "/var/log",
             "The kubelet's log directory (read-only is enough): pod and container names come from its pods/ and containers/.") {
            draft, value throws(ConfigError) in
            guard value.hasPrefix("/") else { throw ConfigError(key: "kubelet_log_root", "must be an absolute path, got '\(ConfigError.excerpt(value))'") }
            draft.config.kubeletLogRoot = value
        },
        .key("runtime_state_root", String.self, example: "/",
             "Where the host's root is (read-only is enough): container, image and pod names come from the runtimes' state below it (run/containerd, run/containers/storage, var/lib/containers/storage, var/lib/docker/containers).") {
            draft, value throws(ConfigError) in
            guard value.hasPrefix("/") else { throw ConfigError(key: "runtime_state_root", "must be an absolute path, got '\(ConfigError.excerpt(value))'") }
            draft.config.runtimeStateRoot = value
        },
    ]

    static let filters: [ConfigKey] = [
        .key("filters.pid", Int64.self, flag: "pid", short: "p", valueName: "PID", example: "1234", commented: true,
             "Only binds by this process id.") { draft, value throws(ConfigError) in
            draft.config.filter.pid = try Validate.pid(value, key: "filters.pid")
        },
        .key("filters.uid", Int64.self, flag: "uid", short: "u", valueName: "UID", example: "0", commented: true,
             "Only binds by this user id.") { draft, value throws(ConfigError) in
            draft.config.filter.uid = try Validate.uid(value, key: "filters.uid")
        },
        .key("filters.ports", PortListValue.self, flag: "port", short: "P", valueName: "PORT[,PORT...]", example: "[80, 443]",
             commented: true, "Only binds whose requested or bound port is listed (up to 64).") { draft, value throws(ConfigError) in
            draft.config.filter.ports = try Validate.ports(value.ports, key: "filters.ports")
        },
        .key("filters.cgroup", String.self, flag: "cgroup", valueName: "PATH", example: "/sys/fs/cgroup/system.slice",
             commented: true, "Only binds by tasks in this cgroup v2 directory or below.") { draft, value in
            draft.config.filter.cgroupPath = value
        },
        .key("filters.outcome", OutcomeFilter.self, flag: "outcome", valueName: "OUTCOME", example: "all",
             "Which results to report: all, success or failure.") { draft, value in
            draft.config.filter.outcome = value
        },
    ]

    static let table: [ConfigKey] = [
        .key("table.timestamp", Bool.self, short: "t", example: "false",
             "Table: include a TIME column (UTC).") { draft, value in draft.config.table.timestamp = value },
        .key("table.uid", Bool.self, short: "U", example: "false",
             "Table: include a UID column.") { draft, value in draft.config.table.uid = value },
        .key("table.wide", Bool.self, short: "w", example: "false",
             "Table: wide address column for IPv6.") { draft, value in draft.config.table.wide = value },
    ]

    static let limits: [ConfigKey] = [
        .key("limits.max_events", Int64.self, flag: "max-events", valueName: "N", example: "1000", commented: true,
             "Stop after this many events.") { draft, value throws(ConfigError) in
            guard value > 0 else { throw ConfigError(key: "limits.max_events", "must be at least 1") }
            draft.config.limits.maxEvents = UInt64(value)
        },
        .key("limits.duration", Seconds.self, flag: "duration", valueName: "SECONDS", example: "1h", commented: true,
             "Stop after this long: seconds, or with a unit (500ms, 30s, 15m, 1h, 1d).") { draft, value in
            draft.config.limits.duration = value.value
        },
    ]

    static let operations: [ConfigKey] = [
        .key("metrics.address", ListenAddress.self, flag: "metrics-address", valueName: "HOST:PORT", example: "127.0.0.1:9464",
             commented: true,
             "Serve Prometheus metrics at /metrics and health at /healthz on this address (bound before --user drops privileges).") {
            draft, value in draft.config.metricsAddress = value
        },
        .key("heartbeat.interval", SecondsOrOff.self, example: "60s",
             "Write an in-band heartbeat record (event.action heartbeat) this often; 0 turns it off.") { draft, value in
            draft.config.heartbeatInterval = value.value
        },
        .key("inventory.enabled", Bool.self, example: "true",
             "At start, once the hooks are live, one line per socket already bound (event.kind state); false: binds from now on only.") {
            draft, value in draft.config.inventory = value
        },
        .key("release.enabled", Bool.self, example: "true",
             "One line (event.type end) when a socket a bind or inventory line reported gives its port back (its last close); JSON output only.") {
            draft, value in draft.config.release = value
        },
        .key("release.max_sockets", Int64.self, example: "16384",
             "Sockets remembered in the kernel for their release (224 bytes each, allocated at start); past it, an in-band record counts the sockets that will have no release line.") {
            draft, value throws(ConfigError) in
            guard (16...Int64(Configuration.maxReleaseSockets)).contains(value) else {
                throw ConfigError(key: "release.max_sockets", "must be between 16 and \(Configuration.maxReleaseSockets)")
            }
            draft.config.releaseMaxSockets = UInt32(value)
        },
        .key("rate_limit", RatePerSecond.self, flag: "rate-limit", valueName: "N/s", example: "1000/s", commented: true,
             "Write at most N events a second per process; the rest are counted in one rate-limited record per process and second.") {
            draft, value in draft.config.rateLimit = value.value
        },
    ]

    static let sinks: [ConfigKey] = [
        .key("sinks.stdout.enabled", Bool.self, example: "false",
             "Events on stdout; by default only when neither file nor unix is configured.") { draft, value in
            draft.config.sinks.stdout = value
        },
        .key("sinks.file.enabled", Bool.self, example: "true",
             "A file section turns the file sink on unless this says false.") { draft, value in draft.fileEnabled = value },
        .key("sinks.file.path", String.self, example: "/var/log/bindsnoop/bind.ndjson",
             "The active file, plain NDJSON (absolute); rotated files sit beside it.") { draft, value throws(ConfigError) in
            guard value.hasPrefix("/") else { throw ConfigError(key: "sinks.file.path", "must be an absolute path, got '\(ConfigError.excerpt(value))'") }
            draft.file!.path = value
        },
        .key("sinks.file.max_size", ByteCount.self, example: "64MiB",
             "Rotate before a line would take the active file past this size.") { draft, value throws(ConfigError) in
            guard value.bytes >= 4096 else { throw ConfigError(key: "sinks.file.max_size", "must be at least 4KiB, got \(value.bytes)") }
            draft.file!.maxSize = value.bytes
        },
        .key("sinks.file.max_age", Seconds.self, example: "1h",
             "And when the active file is this old (leave out: no age limit).") { draft, value in draft.file!.maxAge = value.value },
        .key("sinks.file.max_files", Int.self, example: "10",
             "Rotated files kept, the oldest deleted first.") { draft, value throws(ConfigError) in
            guard value >= 1 else { throw ConfigError(key: "sinks.file.max_files", "must be at least 1, got \(value)") }
            draft.file!.maxFiles = value
        },
        .key("sinks.file.max_total_size", ByteCount.self, example: "1GiB", commented: true,
             "And at most this much in rotated files.") { draft, value in draft.file!.maxTotalSize = value.bytes },
        .key("sinks.file.compression", FileSinkSettings.Compression.self, example: "zstd",
             "zstd (rotated files become .ndjson.zst) or none.") { draft, value in draft.file!.compression = value },
        .key("sinks.file.rotation", FileSinkSettings.Rotation.self, example: "rename",
             "rename (the active file keeps its path) or new-file (each file written under its dated name: tail bind-*.ndjson).") {
            draft, value in draft.file!.rotation = value
        },
        .key("sinks.file.compress_after", Seconds.self, example: "10s",
             "Rotated files stay plain this long, the newest until the next rotation (tailers finish them).") { draft, value in
            draft.file!.compressAfter = value.value
        },
        .key("sinks.file.level", Int.self, example: "3",
             "zstd level 1-19 (level 1 while two or more rotated files wait).") { draft, value throws(ConfigError) in
            guard (1...19).contains(value) else { throw ConfigError(key: "sinks.file.level", "must be a zstd level from 1 to 19, got \(value)") }
            draft.file!.level = Int32(value)
        },
        .key("sinks.file.mode", String.self, example: "\"0640\"",
             "New files get this mode (others may never write).") { draft, value throws(ConfigError) in
            guard let bits = UInt32(value, radix: 8), bits & ~0o666 == 0 else {
                throw ConfigError(key: "sinks.file.mode", "'\(ConfigError.excerpt(value))' is not an octal file mode without execute bits, e.g. \"0640\"")
            }
            guard bits & 0o002 == 0 else { throw ConfigError(key: "sinks.file.mode", "must not let others write, got \(value)") }
            draft.file!.mode = bits
        },
        .key("sinks.file.on_error", FileSinkSettings.OnError.self, example: "continue",
             "A failed write (disk full, directory gone): continue (drop and count, retry, resume with a record of the gap) or stop (exit 74).") {
            draft, value in draft.file!.onError = value
        },
        .key("sinks.unix.enabled", Bool.self, example: "true",
             "A unix section turns the socket sink on unless this says false.") { draft, value in draft.unixEnabled = value },
        .key("sinks.unix.path", String.self, example: "/run/vector/bindsnoop.sock",
             "The forwarder's socket (absolute): it listens, bindsnoop connects.") { draft, value throws(ConfigError) in
            guard value.hasPrefix("/") else { throw ConfigError(key: "sinks.unix.path", "must be an absolute path, got '\(ConfigError.excerpt(value))'") }
            guard value.utf8.count < 108 else { throw ConfigError(key: "sinks.unix.path", "is longer than a socket path may be (107 bytes)") }
            draft.unix!.path = value
        },
        .key("sinks.unix.mode", UnixSinkSettings.Mode.self, example: "stream",
             "stream (newline-framed) or datagram (one event per datagram).") { draft, value in draft.unix!.mode = value },
        .key("sinks.unix.buffer", ByteCount.self, example: "8MiB",
             "Held while the forwarder is away or not reading; beyond it new events are dropped, counted and reported in-band.") { draft, value throws(ConfigError) in
            guard value.bytes >= 64 << 10 else { throw ConfigError(key: "sinks.unix.buffer", "must be at least 64KiB, got \(value.bytes)") }
            draft.unix!.buffer = value.bytes
        },
        .key("sinks.unix.drain_timeout", Seconds.self, example: "10s",
             "At shutdown, wait this long for the forwarder to read what it holds (under the stop grace period).") { draft, value in
            draft.unix!.drainTimeout = value.value
        },
    ]

    /// What each section is for, in the example file.
    static let sections: [(path: String, help: String)] = [
        ("filters", "Kernel-side filters (leave out for \"any\")."),
        ("table", "--format table only."),
        ("limits", "Stop by itself (leave out to run until SIGINT or SIGTERM)."),
        ("metrics", "Prometheus metrics and health (off unless an address is given)."),
        ("heartbeat", "The agent's own health in the event stream."),
        ("inventory", "The sockets already bound when bindsnoop starts (JSON output only)."),
        ("release", "When a reported socket gives its port back (JSON output only)."),
        ("sinks", "Where events go. Any combination; stdout alone when none is configured."),
        ("sinks.stdout", "Events on stdout."),
        ("sinks.file", "A rotating NDJSON file, rotated files compressed with zstd."),
        ("sinks.unix", "A log forwarder's Unix socket (Vector, Fluent Bit, syslog-ng)."),
    ]

    public static func named(_ path: String) -> ConfigKey? {
        all.first { $0.path == path }
    }

    /// Every section path (`sinks`, `sinks.file`, …).
    static let sectionPaths: Set<String> = Set(all.flatMap { key in
        let parts = key.path.split(separator: ".")
        return (1..<parts.count).map { parts.prefix($0).joined(separator: ".") }
    })
}
