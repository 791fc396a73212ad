/// The YAML document (and the BINDSNOOP_* variables laid over it) as decoded:
/// every key optional, unknown keys refused. `configuration()` checks ranges
/// and lays it over the defaults. `docs/bindsnoop.example.yaml` shows every key.
struct ConfigurationFile: Decodable {
    var probe: String?
    var format: OutputFormat?
    var count: Bool?
    var ringBufferSize: ByteCount?
    var user: String?
    var filters: Filters?
    var table: Table?
    var limits: Limits?
    var sinks: Sinks?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case probe, format, count, ringBufferSize = "ring_buffer_size", user, filters, table, limits, sinks
    }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        probe = try c.decodeIfPresent(String.self, forKey: .probe)
        format = try c.decodeIfPresent(OutputFormat.self, forKey: .format)
        count = try c.decodeIfPresent(Bool.self, forKey: .count)
        ringBufferSize = try c.decodeIfPresent(ByteCount.self, forKey: .ringBufferSize)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        filters = try c.decodeIfPresent(Filters.self, forKey: .filters)
        table = try c.decodeIfPresent(Table.self, forKey: .table)
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits)
        sinks = try c.decodeIfPresent(Sinks.self, forKey: .sinks)
    }

    struct Filters: Decodable {
        var pid: Int64?
        var uid: Int64?
        var ports: PortListValue?
        var cgroup: String?
        var outcome: OutcomeFilter?

        enum CodingKeys: String, CodingKey, CaseIterable { case pid, uid, ports, cgroup, outcome }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            pid = try c.decodeIfPresent(Int64.self, forKey: .pid)
            uid = try c.decodeIfPresent(Int64.self, forKey: .uid)
            ports = try c.decodeIfPresent(PortListValue.self, forKey: .ports)
            cgroup = try c.decodeIfPresent(String.self, forKey: .cgroup)
            outcome = try c.decodeIfPresent(OutcomeFilter.self, forKey: .outcome)
        }
    }

    struct Table: Decodable {
        var timestamp: Bool?
        var uid: Bool?
        var wide: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case timestamp, uid, wide }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            timestamp = try c.decodeIfPresent(Bool.self, forKey: .timestamp)
            uid = try c.decodeIfPresent(Bool.self, forKey: .uid)
            wide = try c.decodeIfPresent(Bool.self, forKey: .wide)
        }
    }

    struct Limits: Decodable {
        var maxEvents: Int64?
        var duration: Seconds?

        enum CodingKeys: String, CodingKey, CaseIterable { case maxEvents = "max_events", duration }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maxEvents = try c.decodeIfPresent(Int64.self, forKey: .maxEvents)
            duration = try c.decodeIfPresent(Seconds.self, forKey: .duration)
        }
    }

    struct Sinks: Decodable {
        var stdout: Stdout?
        var file: File?
        var unix: Unix?

        enum CodingKeys: String, CodingKey, CaseIterable { case stdout, file, unix }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            stdout = try c.decodeIfPresent(Stdout.self, forKey: .stdout)
            file = try c.decodeIfPresent(File.self, forKey: .file)
            unix = try c.decodeIfPresent(Unix.self, forKey: .unix)
        }
    }

    struct Stdout: Decodable {
        var enabled: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case enabled }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            enabled = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .enabled)
        }
    }

    struct File: Decodable {
        var enabled: Bool?
        var path: String?
        var maxSize: ByteCount?
        var maxAge: Seconds?
        var maxFiles: Int?
        var maxTotalSize: ByteCount?
        var compression: FileSinkSettings.Compression?
        var level: Int?
        var mode: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case enabled, path, maxSize = "max_size", maxAge = "max_age", maxFiles = "max_files"
            case maxTotalSize = "max_total_size", compression, level, mode
        }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
            path = try c.decodeIfPresent(String.self, forKey: .path)
            maxSize = try c.decodeIfPresent(ByteCount.self, forKey: .maxSize)
            maxAge = try c.decodeIfPresent(Seconds.self, forKey: .maxAge)
            maxFiles = try c.decodeIfPresent(Int.self, forKey: .maxFiles)
            maxTotalSize = try c.decodeIfPresent(ByteCount.self, forKey: .maxTotalSize)
            compression = try c.decodeIfPresent(FileSinkSettings.Compression.self, forKey: .compression)
            level = try c.decodeIfPresent(Int.self, forKey: .level)
            mode = try c.decodeIfPresent(String.self, forKey: .mode)
        }
    }

    struct Unix: Decodable {
        var enabled: Bool?
        var path: String?
        var mode: UnixSinkSettings.Mode?
        var buffer: ByteCount?

        enum CodingKeys: String, CodingKey, CaseIterable { case enabled, path, mode, buffer }

        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
            path = try c.decodeIfPresent(String.self, forKey: .path)
            mode = try c.decodeIfPresent(UnixSinkSettings.Mode.self, forKey: .mode)
            buffer = try c.decodeIfPresent(ByteCount.self, forKey: .buffer)
        }
    }

    func configuration() throws(ConfigError) -> Configuration {
        var config = Configuration()
        if let probe {
            guard let selection = ProbeSelection(argument: probe) else {
                throw ConfigError(key: "probe", "'\(probe)' is not one of auto, fentry, kprobe, tracepoint")
            }
            config.probe = selection
        }
        if let format { config.format = format }
        if let count { config.count = count }
        if let ringBufferSize { config.ringBufferSize = try Validate.ringBufferSize(ringBufferSize.bytes, key: "ring_buffer_size") }
        config.user = user
        if let filters {
            if let pid = filters.pid { config.filter.pid = try Validate.pid(pid, key: "filters.pid") }
            if let uid = filters.uid { config.filter.uid = try Validate.uid(uid, key: "filters.uid") }
            if let ports = filters.ports { config.filter.ports = try Validate.ports(ports.ports, key: "filters.ports") }
            if let cgroup = filters.cgroup { config.filter.cgroupPath = cgroup }
            if let outcome = filters.outcome { config.filter.outcome = outcome }
        }
        if let table {
            config.table.timestamp = table.timestamp ?? false
            config.table.uid = table.uid ?? false
            config.table.wide = table.wide ?? false
        }
        if let limits {
            if let maxEvents = limits.maxEvents {
                guard maxEvents > 0 else { throw ConfigError(key: "limits.max_events", "must be at least 1") }
                config.limits.maxEvents = UInt64(maxEvents)
            }
            config.limits.duration = limits.duration?.value
        }
        if let sinks {
            config.sinks.stdout = sinks.stdout?.enabled
            if let file = sinks.file, file.enabled ?? true {
                config.sinks.file = try file.settings()
            }
            if let unix = sinks.unix, unix.enabled ?? true {
                config.sinks.unix = try unix.settings()
            }
        }
        return config
    }
}

extension ConfigurationFile.File {
    func settings() throws(ConfigError) -> FileSinkSettings {
        guard let path, !path.isEmpty else { throw ConfigError(key: "sinks.file.path", "required: the active log file, e.g. /var/log/bindsnoop/bind.ndjson") }
        guard path.hasPrefix("/") else { throw ConfigError(key: "sinks.file.path", "must be an absolute path, got '\(path)'") }
        var settings = FileSinkSettings(path: path)
        if let maxSize {
            guard maxSize.bytes >= 4096 else { throw ConfigError(key: "sinks.file.max_size", "must be at least 4KiB, got \(maxSize.bytes)") }
            settings.maxSize = maxSize.bytes
        }
        settings.maxAge = maxAge?.value
        if let maxFiles {
            guard maxFiles >= 1 else { throw ConfigError(key: "sinks.file.max_files", "must be at least 1, got \(maxFiles)") }
            settings.maxFiles = maxFiles
        }
        settings.maxTotalSize = maxTotalSize?.bytes
        if let compression { settings.compression = compression }
        if let level {
            guard (1...19).contains(level) else { throw ConfigError(key: "sinks.file.level", "must be a zstd level from 1 to 19, got \(level)") }
            settings.level = Int32(level)
        }
        if let mode {
            guard let bits = UInt32(mode, radix: 8), bits & ~0o666 == 0 else {
                throw ConfigError(key: "sinks.file.mode", "'\(mode)' is not an octal file mode without execute bits, e.g. \"0640\"")
            }
            guard bits & 0o002 == 0 else { throw ConfigError(key: "sinks.file.mode", "must not let others write, got \(mode)") }
            settings.mode = bits
        }
        return settings
    }
}

extension ConfigurationFile.Unix {
    func settings() throws(ConfigError) -> UnixSinkSettings {
        guard let path, !path.isEmpty else { throw ConfigError(key: "sinks.unix.path", "required: the forwarder's socket, e.g. /run/vector/bindsnoop.sock") }
        guard path.hasPrefix("/") else { throw ConfigError(key: "sinks.unix.path", "must be an absolute path, got '\(path)'") }
        guard path.utf8.count < 108 else { throw ConfigError(key: "sinks.unix.path", "is longer than a socket path may be (107 bytes)") }
        var settings = UnixSinkSettings(path: path)
        if let mode { settings.mode = mode }
        if let buffer {
            guard buffer.bytes >= 64 << 10 else { throw ConfigError(key: "sinks.unix.buffer", "must be at least 64KiB, got \(buffer.bytes)") }
            settings.buffer = buffer.bytes
        }
        return settings
    }
}

/// Range checks shared by the file, the environment and the command line.
public enum Validate {
    public static func pid(_ value: Int64, key: String) throws(ConfigError) -> UInt32 {
        guard value > 0, value <= Int64(Int32.max) else { throw ConfigError(key: key, "\(value) is not a process id: give a positive number") }
        return UInt32(value)
    }

    public static func uid(_ value: Int64, key: String) throws(ConfigError) -> UInt32 {
        guard value >= 0, value < Int64(UInt32.max) else { throw ConfigError(key: key, "\(value) is not a user id: give a number from 0 to 4294967294") }
        return UInt32(value)
    }

    public static func ports(_ ports: [UInt16], key: String) throws(ConfigError) -> [UInt16] {
        guard ports.count <= KernelFilter.maxPorts else { throw ConfigError(key: key, "lists \(ports.count) ports: at most \(KernelFilter.maxPorts) are allowed") }
        return ports
    }

    public static func ringBufferSize(_ size: UInt64, key: String) throws(ConfigError) -> UInt64 {
        guard size >= 4096, size <= 1 << 30, size & (size - 1) == 0 else {
            throw ConfigError(key: key, "\(size) must be a power of two from 4KiB to 1GiB, e.g. 4MiB")
        }
        return size
    }
}



