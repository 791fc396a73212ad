/// Where a configured value came from: what the user wrote, named in every
/// error about it, and whether that error is a usage error (a flag) or a
/// configuration error (a variable, the file, a default).
public enum ConfigSource: Sendable, Equatable {
    /// `--user`.
    case flag(String)
    /// `BINDSNOOP_USER`.
    case variable(String)
    /// `user` in the `--config` file.
    case file(key: String)
    /// Not configured: the key's default.
    case defaulted(key: String)

    /// As the user wrote it.
    public var name: String {
        switch self {
        case .flag(let name), .variable(let name): name
        case .file(let key): key
        case .defaulted(let key): "\(key) (default)"
        }
    }

    /// A flag's value is a usage error (exit 64); anything else a configuration error (78).
    public var isFlag: Bool {
        if case .flag = self { return true }
        return false
    }
}

/// A configuration problem, with what the user wrote (flag, variable or key).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var key: String
    public var problem: String
    /// Where the value came from, where it is known: a flag or not decides the exit code.
    public var source: ConfigSource?

    public init(key: String, _ problem: String) {
        self.key = key
        self.problem = problem
        self.source = nil
    }

    public init(source: ConfigSource, _ problem: String) {
        self.key = source.name
        self.problem = problem
        self.source = source
    }

    /// A flag's value (64) or anything else (78), by the source where known.
    public var isUsageError: Bool { source?.isFlag ?? key.hasPrefix("-") }

    public var description: String { key.isEmpty ? problem : "\(key): \(problem)" }
}
