import CBindsnoop

/// How the kernel program sees bind(): the attach modes, the full-fidelity
/// ones best first, then `cgroup` (chosen only by name).
public enum ProbeMode: String, CaseIterable, Sendable {
    /// fexit on inet_bind/inet6_bind: cheapest, sees io_uring binds; needs BPF trampolines.
    case fentry
    /// kprobe/kretprobe on the same functions: needs CONFIG_KPROBES.
    case kprobe
    /// The syscalls:sys_exit_bind tracepoint (with sys_enter_bind before
    /// 5.15): works nearly everywhere; misses io_uring binds.
    case tracepoint
    /// The cgroup socket-address hooks (bind4/6, post_bind4/6) at the cgroup
    /// v2 root: run only inside inet_bind, whatever the path (io_uring,
    /// 32-bit); a failed bind is seen as "requested, never bound", its
    /// errno unknown.
    case cgroup

    /// The programs of bpf/bindsnoop.bpf.c this mode may load, one set per
    /// variant (`TracepointVariant`); the mode loads one set. From `KernelProgram.all`.
    var programSets: [[String]] {
        self == .tracepoint ? TracepointVariant.allCases.map(\.programs)
            : [KernelProgram.all.filter { $0.mode == self }.map(\.name)]
    }

    init?(kernelValue: UInt8) {
        switch UInt32(kernelValue) {
        case BINDSNOOP_PROBE_FENTRY.rawValue: self = .fentry
        case BINDSNOOP_PROBE_KPROBE.rawValue: self = .kprobe
        case BINDSNOOP_PROBE_TRACEPOINT.rawValue: self = .tracepoint
        case BINDSNOOP_PROBE_CGROUP.rawValue: self = .cgroup
        default: return nil
        }
    }
}

/// `--probe`: one mode, or the first full-fidelity one that loads and attaches.
public enum ProbeSelection: Sendable, Equatable {
    case auto
    case only(ProbeMode)

    public init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let mode = ProbeMode(rawValue: argument) {
            self = .only(mode)
        } else {
            return nil
        }
    }

    public var candidates: [ProbeMode] {
        switch self {
        case .auto: [.fentry, .kprobe, .tracepoint]
        case .only(let mode): [mode]
        }
    }
}
