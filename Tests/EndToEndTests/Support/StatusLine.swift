import Foundation

/// bindsnoop's two stderr lines that tests and scripts read as an interface
/// (the shell's reader is scripts/lib.sh), pinned by CommandLineTests:
///
///     bindsnoop: info: attached: tracing bind() in MODE mode live_after_ms=… metrics=… mode=… outputs=… programs=…
///     bindsnoop: info: stopped dropped=… dropped_by_output=… events=… lost=… malformed=… rate_limited=… reason=…
///
/// Their `key=value` fields, parsed whole: `lost=3` is 3, not a prefix of `lost=30`.
struct StatusLine {
    let fields: [String: String]

    /// The `attached` line of a run's stderr; nil before it is written.
    static func attached(in stderr: String) -> StatusLine? {
        line(in: stderr, marker: "info: attached: ")
    }

    /// The `stopped` line of a run's stderr; nil before it is written.
    static func stopped(in stderr: String) -> StatusLine? {
        line(in: stderr, marker: "info: stopped ")
    }

    private static func line(in stderr: String, marker: String) -> StatusLine? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.contains(marker) }) else { return nil }
        var fields: [String: String] = [:]
        for token in line.split(separator: " ") {
            guard let equals = token.firstIndex(of: "=") else { continue }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        return StatusLine(fields: fields)
    }

    subscript(_ key: String) -> String? { fields[key] }

    func int(_ key: String) -> Int? { fields[key].flatMap { Int($0) } }
}
