import CBindsnoop

/// What user space finds in the embedded object (`bpf/bindsnoop.bpf.c`) by
/// name: one place for the strings the C side declares, checked against
/// the object itself by a unit test (no root needed), the way a libbpf
/// skeleton would generate them.
enum KernelContract {
    /// The ring buffer the programs write records into.
    static let eventsMap = "events"
    /// Events lost in the kernel (BPF_F_MMAPABLE array of one counter).
    static let lostMap = "lost"
    /// The calls in flight between entry and return (kprobe mode, the tracepoint pair).
    static let pendingMap = "pending"
    /// cgroup mode: requests no post-bind hook has claimed yet, by socket cookie.
    static let requestedMap = "requested"
    /// The self-check's slots, one per program (`SelfCheck`).
    static let selfChecksMap = "self_checks"
    /// The cgroup of `--cgroup`.
    static let cgroupFilterMap = "cgroup_filter"
    /// `const volatile struct bindsnoop_config config`, in `.rodata`.
    static let configVariable = "config"
    static let rodataSection = ".rodata"

    static var maps: [String] { [eventsMap, lostMap, pendingMap, requestedMap, selfChecksMap, cgroupFilterMap] }

    /// The cgroup hooks: the cgroup mode's programs, also run beside the tracepoint.
    static var cgroupHookPrograms: [String] { ProbeMode.cgroup.programSets[0] }

    /// Every program of the object, each in one mode's set.
    static var programs: [String] { ProbeMode.allCases.flatMap { mode in mode.programSets.flatMap { $0 } } }

    /// Where `config` sits in `.rodata`, read from the object's BTF (the
    /// day another read-only variable comes first, an assumed offset 0
    /// would write the filters into it).
    static func configOffset(in object: OpaquePointer) -> Int? {
        let offset = bindsnoop_datasec_variable_offset(object, rodataSection, configVariable, MemoryLayout<bindsnoop_config>.size)
        return offset < 0 ? nil : offset
    }
}

/// The tracepoint mode's programs: which one a kernel gets.
enum TracepointVariant: CaseIterable {
    /// One exit program reading the socket through bpf_rdonly_cast (6.2+).
    case cast
    /// One exit program reading the arguments back from the saved registers (5.15+).
    case regs
    /// Entry stores the call per thread, exit reports it (any kernel; `--tracepoint-entry-exit`).
    case entryExitPair

    var programs: [String] {
        switch self {
        case .cast: ["tracepoint_sys_exit_bind_cast"]
        case .regs: ["tracepoint_sys_exit_bind_regs"]
        case .entryExitPair: ["tracepoint_sys_enter_bind", "tracepoint_sys_exit_bind_pair"]
        }
    }

    /// The best this kernel runs: tracepoint programs may call
    /// bpf_task_pt_regs (5.15+), and bpf_rdonly_cast exists (6.2+, about
    /// 0.2 µs less per bind). Probing loads a program: ask once per attempt.
    static func best(pairOnly: Bool) -> TracepointVariant {
        guard !pairOnly, libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, nil) == 1 else {
            return .entryExitPair
        }
        return bindsnoop_kernel_has_function("bpf_rdonly_cast") != 0 ? .cast : .regs
    }
}
