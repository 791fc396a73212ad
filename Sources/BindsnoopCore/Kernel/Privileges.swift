import Foundation

enum Privileges {
    private static let capSysAdmin = 21
    private static let capPerfmon = 38
    private static let capBPF = 39

    /// Whether the effective capabilities allow loading and attaching
    /// tracing programs: CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON.
    static func canLoadBPF(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Bool {
        guard let status,
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return geteuid() == 0 }
        func has(_ cap: Int) -> Bool { mask & (1 << UInt64(cap)) != 0 }
        return has(capSysAdmin) || (has(capBPF) && has(capPerfmon))
    }
}
