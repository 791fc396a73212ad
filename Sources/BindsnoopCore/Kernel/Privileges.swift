import CBindsnoop
import Foundation

enum Privileges {
    private static let capSysAdmin = 21
    private static let capPerfmon = 38
    private static let capBPF = 39

    /// Whether the effective capabilities allow loading and attaching
    /// tracing programs: CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON.
    static func canLoadBPF(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Bool {
        guard let mask = field("CapEff", of: status).flatMap({ UInt64($0, radix: 16) }) else { return geteuid() == 0 }
        func has(_ cap: Int) -> Bool { mask & (1 << UInt64(cap)) != 0 }
        return has(capSysAdmin) || (has(capBPF) && has(capPerfmon))
    }

    /// Whether a seccomp filter is in force on this process (`Seccomp: 2`
    /// in /proc/self/status): a container runtime's default profile.
    static func seccompFiltered(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Bool {
        field("Seccomp", of: status) == "2"
    }

    /// The value of one `Name:\tvalue` line of /proc/PID/status, trimmed.
    private static func field(_ name: String, of status: String?) -> String? {
        guard let line = status?.split(separator: "\n").first(where: { $0.hasPrefix("\(name):") }) else { return nil }
        return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
    }

    /// The errno of the smallest bpf(2) call that needs CAP_BPF (an array
    /// map of one entry, closed at once), nil when it succeeds.
    static func bpfCallRefused() -> Int32? {
        let fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, nil, 4, 4, 1, nil)
        guard fd < 0 else {
            close(fd)
            return nil
        }
        return errno
    }
}
