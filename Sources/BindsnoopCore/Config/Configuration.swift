/// Everything a run is told: what to trace, how to encode it, where to send it.
/// Built from defaults, then a YAML file, then BINDSNOOP_* variables, then
/// command-line flags, each overriding the one before.
public struct Configuration: Equatable, Sendable {
    public var probe: ProbeSelection = .auto
    public var format: OutputFormat = .json
    /// Count binds per local address and port, print them at exit (`--count`).
    public var count = false
    /// 2 MiB: 150 ms of a 100 000 binds/s storm, and the reader is woken at one eighth.
    public var ringBufferSize: UInt64 = 2 << 20
    public var filter = KernelFilter()
    public var table = TableOptions()
    public var limits = SessionLimits()
    public var sinks = SinkSettings()
    /// Run as this user once attached (privileges dropped).
    public var user: String?
    /// The kubelet's log directory: pod and container names come from its
    /// `pods/` and `containers/` (`KubeletLogs`).
    public var kubeletLogRoot = "/var/log"
    /// The host's root as bindsnoop sees it: container, image and pod names
    /// come from the runtimes' state below it (`RuntimeState`).
    public var runtimeStateRoot = "/"
    /// Serve /metrics and /healthz here (off when nil).
    public var metricsAddress: ListenAddress?
    /// An in-band heartbeat record this often (off when nil).
    public var heartbeatInterval: Double? = 60
    /// The inventory at start (JSON output only).
    public var inventory = true
    /// Release lines (JSON output only).
    public var release = true
    /// The kernel's table of reported sockets, kept for their release.
    public var releaseMaxSockets: UInt32 = 16384
    public static let maxReleaseSockets: UInt32 = 1 << 22
    /// At most this many events a second per process (off when nil).
    public var rateLimit: UInt32?
    /// Where each configured value came from, by key path (the loader fills
    /// it): checks made after loading name what the user wrote.
    public var sources: [String: ConfigSource] = [:]

    public init() {}

    /// The flag, variable or file key `path`'s value came from (its default if none).
    public func source(of path: String) -> ConfigSource {
        sources[path] ?? .defaulted(key: path)
    }
}

public struct TableOptions: Equatable, Sendable {
    public var timestamp = false
    public var uid = false
    public var wide = false

    public init() {}
}

public struct SinkSettings: Equatable, Sendable {
    /// nil: on when no other sink is configured.
    public var stdout: Bool?
    public var file: FileSinkSettings?
    public var unix: UnixSinkSettings?

    public init() {}

    public var stdoutEnabled: Bool { stdout ?? (file == nil && unix == nil) }
}

public struct FileSinkSettings: Equatable, Sendable {
    public enum Compression: String, Sendable, CaseIterable { case zstd, none }
    /// `rename`: the active file keeps its path and is renamed at rotation
    /// (tailers that follow a file across a rename: Vector, Fluent Bit,
    /// `tail -F`). `new-file`: each file is written under its final dated
    /// name and never renamed (tailers that read files by name, such as
    /// syslog-ng's wildcard-file(), which drops a renamed file's unread end).
    public enum Rotation: String, Sendable, CaseIterable {
        case rename
        case newFile = "new-file"
    }

    /// The active file; rotated files sit beside it.
    public var path: String
    public var maxSize: UInt64 = 64 << 20
    public var maxAge: Double?
    /// Rotated files kept (the active one not counted).
    public var maxFiles = 10
    public var maxTotalSize: UInt64?
    public var compression: Compression = .zstd
    public var level: Int32 = 3
    public var mode: UInt32 = 0o640
    /// A rotated file stays plain at least this long, and the newest one
    /// until the next rotation, so that a forwarder tailing it finishes it.
    public var compressAfter: Double = 10
    public var rotation: Rotation = .rename
    /// What a failed write does: `continue` (drop, count, retry, resume
    /// with an in-band record) or `stop` (end the run, exit 74).
    public enum OnError: String, Sendable, CaseIterable { case `continue`, stop }
    public var onError: OnError = .continue

    public init(path: String) {
        self.path = path
    }
}

public struct UnixSinkSettings: Equatable, Sendable {
    public enum Mode: String, Sendable, CaseIterable { case stream, datagram }

    public var path: String
    public var mode: Mode = .stream
    /// Bytes held while the forwarder is away or not reading; beyond it new lines are dropped.
    public var buffer: UInt64 = 8 << 20
    /// At shutdown, how long to wait for the forwarder to read what it has
    /// not (inside systemd's 90 s and Kubernetes' 30 s stop grace periods).
    public var drainTimeout: Double = 10

    public init(path: String) {
        self.path = path
    }
}

/// `--format`: NDJSON events, or BCC's columns.
public enum OutputFormat: String, CaseIterable, Sendable {
    case json, table
}
