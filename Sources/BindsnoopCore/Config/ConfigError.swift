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

    /// One bounded line whatever the input held: the key (it may be a hostile
    /// file's key or path) and the problem with control bytes escaped and cut.
    public var description: String {
        let problem = Self.excerpt(problem, limit: 2048)
        return key.isEmpty ? problem : "\(Self.excerpt(key, limit: 256)): \(problem)"
    }

    /// `text` as one line for a message: control bytes escaped (`\n`, `\t`,
    /// `\x00`), cut after `limit` UTF-8 bytes with `…` and the size left out.
    public static func excerpt<S: StringProtocol>(_ text: S, limit: Int = 200) -> String {
        var out = ""
        var bytes = 0
        var consumed = 0
        for scalar in text.unicodeScalars {
            let piece: String
            switch scalar {
            case "\n": piece = "\\n"
            case "\t": piece = "\\t"
            case "\r": piece = "\\r"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                piece = "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: piece = String(scalar)
            }
            if bytes + piece.utf8.count > limit {
                return out + "… (\(text.utf8.count - consumed) more bytes)"
            }
            out += piece
            bytes += piece.utf8.count
            consumed += UTF8.width(scalar)
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
