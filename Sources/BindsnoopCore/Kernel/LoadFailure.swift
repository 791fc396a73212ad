import Foundation

/// Why the kernel refused a program, in the kernel's own words: read from
/// what libbpf printed during a failed load (its warnings and the
/// verifier's log, kept by the C shim whatever the verbosity).
struct LoadFailure: Equatable {
    /// The program the kernel refused, as libbpf names it.
    var program: String
    /// The verifier's message (the last line of its log that is neither an
    /// instruction, a source line nor its closing statistics), or libbpf's
    /// own last word about the program when there is no log.
    var message: String

    /// Messages of old kernels and what they usually mean.
    private static let hints: [(String, String)] = [
        ("BPF_STX uses reserved fields", "kernel older than 5.12?"),
        ("unknown func", "a helper this kernel does not have"),
        ("invalid func unknown#", "a helper this kernel does not have"),
    ]

    var hint: String? { Self.hints.first { message.contains($0.0) }?.1 }

    var description: String {
        "\(program): \(message)" + (hint.map { " (\($0))" } ?? "")
    }

    init(program: String, message: String) {
        self.program = program
        self.message = message
    }

    /// nil when libbpf named no program (the failure was elsewhere).
    init?(libbpfLog log: String) {
        let lines = log.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let failed = lines.lastIndex(where: { $0.contains("prog '") }),
              let name = Self.programName(in: lines[failed]) else { return nil }
        program = name
        let logStart = lines[...failed].lastIndex { $0.hasSuffix("-- BEGIN PROG LOAD LOG --") && $0.contains("prog '\(name)'") }
        if let logStart,
           let end = lines[logStart...].firstIndex(where: { $0.hasPrefix("-- END PROG LOAD LOG --") }),
           let said = lines[(logStart + 1)..<end].last(where: Self.isMessage) {
            message = said.trimmingCharacters(in: .whitespaces)
            return
        }
        // No verifier log: libbpf's own last line about the program.
        let own = lines.last { $0.contains("prog '\(name)'") && !$0.contains("LOAD LOG") } ?? lines[failed]
        message = own.components(separatedBy: "prog '\(name)': ").last.map {
            $0.replacingOccurrences(of: "libbpf: ", with: "").trimmingCharacters(in: .whitespaces)
        } ?? own
    }

    private static func programName(in line: String) -> String? {
        guard let open = line.range(of: "prog '"),
              let close = line[open.upperBound...].firstIndex(of: "'") else { return nil }
        return String(line[open.upperBound..<close])
    }

    /// Not an instruction ("12: (85) call ..."), register state, source
    /// line ("; ...") or the closing statistics.
    private static func isMessage(_ line: String) -> Bool {
        let text = line.trimmingCharacters(in: .whitespaces)
        if text.isEmpty || text.hasPrefix(";") { return false }
        for prefix in ["processed ", "verification time", "stack depth", "func#", "Func#", "from ", "last_idx", "regs=", "parent "]
        where text.hasPrefix(prefix) { return false }
        if let colon = text.firstIndex(of: ":"), !text[..<colon].isEmpty, text[..<colon].allSatisfy(\.isNumber) { return false }
        return true
    }
}
