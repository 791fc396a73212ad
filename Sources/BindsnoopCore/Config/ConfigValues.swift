import Foundation

/// A byte count in configuration: a number of bytes or a string such as `64MiB`.
struct ByteCount: Decodable, Equatable, Sendable, CustomStringConvertible {
    var bytes: UInt64

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            guard number >= 0 else { throw container.invalid("must not be negative, got \(number)") }
            bytes = UInt64(number)
            return
        }
        let text = try container.decode(String.self)
        guard !text.hasPrefix("-") else { throw container.invalid("must not be negative, got \(ConfigError.excerpt(text))") }
        guard let parsed = parseByteSize(text) else {
            throw container.invalid("'\(ConfigError.excerpt(text))' is not a size: write e.g. 64MiB, 512KiB, 1G or a number of bytes")
        }
        bytes = parsed
    }

    var description: String { "\(bytes) bytes" }
}

/// A duration in configuration: seconds as a number, or a string with a unit: `500ms`, `30s`, `15m`, `1h`, `1d`.
struct Seconds: Decodable, Equatable, Sendable {
    var value: Double

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            guard number > 0, number.isFinite else { throw container.invalid("must be a positive duration, got \(number)") }
            value = number
            return
        }
        let text = try container.decode(String.self)
        guard let parsed = parseDuration(text) else {
            throw container.invalid("'\(ConfigError.excerpt(text))' is not a duration: write e.g. 30s, 15m, 1h or a number of seconds")
        }
        value = parsed
    }
}

/// A duration that may be turned off: 0 or `off`, else as `Seconds`.
struct SecondsOrOff: Decodable, Equatable, Sendable {
    var value: Double?

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            guard number >= 0, number.isFinite else { throw container.invalid("must be a duration or 0 (off), got \(number)") }
            value = number == 0 ? nil : number
            return
        }
        let text = try container.decode(String.self)
        if text == "off" || text == "0" { return }
        guard let parsed = parseDuration(text) else {
            throw container.invalid("'\(ConfigError.excerpt(text))' is not a duration: write e.g. 60s, 5m, or 0 (off)")
        }
        value = parsed
    }
}

/// `--rate-limit`: events per second per process, `100/s` or `100`.
struct RatePerSecond: Decodable, Equatable, Sendable {
    var value: UInt32

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text: String
        if let number = try? container.decode(Int64.self) { text = String(number) } else { text = try container.decode(String.self) }
        let number = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
        guard let parsed = UInt32(number.trimmingCharacters(in: .whitespaces)), parsed > 0 else {
            throw container.invalid("'\(ConfigError.excerpt(text))' is not a rate: write events per second per process, e.g. 100/s")
        }
        value = parsed
    }
}

/// `--metrics-address`: `HOST:PORT`, the host an IPv4 literal or an IPv6 one
/// in brackets (`[::1]:9464`); no host: every address.
public struct ListenAddress: Decodable, Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public var isIPv6: Bool { host.contains(":") }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = Self(parsing: text) else {
            throw container.invalid("'\(ConfigError.excerpt(text))' is not HOST:PORT: write e.g. 127.0.0.1:9464, [::1]:9464 or :9464 (every address)")
        }
        self = parsed
    }

    init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            var address = in6_addr()
            guard inet_pton(AF_INET6, host, &address) == 1 else { return nil }
        } else {
            if host.isEmpty { host = "0.0.0.0" }
            var address = in_addr()
            guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
        }
        self.host = host
        self.port = port
    }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

func parseDuration(_ text: String) -> Double? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let number = trimmed.prefix { $0.isNumber || $0 == "." }
    guard let value = Double(number), value > 0, value.isFinite else { return nil }
    switch trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces) {
    case "", "s": return value
    case "ms": return value / 1000
    case "m": return value * 60
    case "h": return value * 3600
    case "d": return value * 86400
    default: return nil
    }
}

/// Ports as a YAML list or a comma-separated string (environment variables).
struct PortListValue: Decodable, Equatable {
    var ports: [UInt16]

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let list = try? container.decode([Int].self) {
            ports = try list.map { try Self.port($0, container) }
        } else if let single = try? container.decode(Int.self) {
            ports = [try Self.port(single, container)]
        } else {
            let text = try container.decode(String.self)
            ports = try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
                guard let value = Int(item.trimmingCharacters(in: .whitespaces)) else {
                    throw container.invalid("'\(ConfigError.excerpt(item))' is not a port number")
                }
                return try Self.port(value, container)
            }
        }
    }

    private static func port(_ value: Int, _ container: SingleValueDecodingContainer) throws -> UInt16 {
        guard let port = UInt16(exactly: value) else { throw container.invalid("\(value) is not a port: ports are 0 to 65535") }
        return port
    }
}

extension SingleValueDecodingContainer {
    func invalid(_ message: String) -> DecodingError {
        DecodingError.dataCorruptedError(in: self, debugDescription: message)
    }
}

/// When a run stops by itself: after this many events, or this many seconds.
public struct SessionLimits: Sendable, Equatable {
    public var maxEvents: UInt64?
    public var duration: Double?

    public init(maxEvents: UInt64? = nil, duration: Double? = nil) {
        self.maxEvents = maxEvents
        self.duration = duration
    }
}
