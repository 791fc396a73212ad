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
    /// The processes whose identity record was sent (LRU, by tgid).
    static let identitiesSentMap = "identities_sent"
    /// The sockets reported and not yet released, by socket inode (`bpf/reported.bpf.h`).
    static let reportedMap = "reported"
    /// Reported sockets `reported` had no room for (BPF_F_MMAPABLE array of one counter).
    static let untrackedMap = "untracked"
    /// The cgroup of `--cgroup`.
    static let cgroupFilterMap = "cgroup_filter"
    /// `const volatile struct bindsnoop_config config`, in `.rodata`.
    static let configVariable = "config"
    static let rodataSection = ".rodata"

    static var maps: [String] {
        [eventsMap, lostMap, pendingMap, requestedMap, selfChecksMap, cgroupFilterMap, identitiesSentMap, reportedMap, untrackedMap]
    }

    /// At a socket's last close (cgroup/sock_release at the cgroup v2 root,
    /// 5.9+), in every mode: the release of a reported socket.
    static let releaseProgram = "cgroup_sock_release"

    /// The cgroup hooks: the cgroup mode's programs, also run beside the tracepoint.
    static var cgroupHookPrograms: [String] { ProbeMode.cgroup.programSets[0] }

    /// The smallest fexit program: loaded alone when fentry mode fails, it
    /// tells a kernel that refuses BPF trampolines from one that refuses bindsnoop's program.
    static let minimalFexitProgram = "fentry_minimal"

    /// Run once by the thread that makes the self-check binds (BPF_PROG_TEST_RUN): it records
    /// that thread as the kernel knows it, whatever pid namespace bindsnoop runs in.
    static let whoamiProgram = "whoami"

    /// Every program of the object: the table's (each in one mode's set), the minimal fexit, whoami.
    static var programs: [String] {
        KernelProgram.all.map(\.name) + [minimalFexitProgram, whoamiProgram]
    }

    /// Where `config` sits in `.rodata`, read from the object's BTF (the
    /// day another read-only variable comes first, an assumed offset 0
    /// would write the filters into it).
    static func configOffset(in object: OpaquePointer) -> Int? {
        let offset = bindsnoop_datasec_variable_offset(object, rodataSection, configVariable, MemoryLayout<bindsnoop_config>.size)
        return offset < 0 ? nil : offset
    }
}

/// What the tests choose instead of the kernel's best (hidden flags): the
/// tracepoint program variant, and field-by-field socket reads (the path
/// of a kernel whose layout does not fit the one-copy reads).
public struct ProgramOverrides: Sendable {
    public var tracepointVariant: TracepointVariant?
    public var fieldByField: Bool

    public init(tracepointVariant: TracepointVariant? = nil, fieldByField: Bool = false) {
        self.tracepointVariant = tracepointVariant
        self.fieldByField = fieldByField
    }
}

/// The tracepoint mode's programs: which one a kernel gets.
public enum TracepointVariant: String, CaseIterable, Sendable {
    /// One exit program reading the socket through bpf_rdonly_cast (6.2+).
    case cast
    /// One exit program reading the arguments back from the saved registers (5.15+).
    case regs
    /// Entry stores the call per thread, exit reports it (any kernel).
    case entryExitPair = "pair"

    /// From `KernelProgram.all`.
    var programs: [String] {
        KernelProgram.all.filter { $0.variant == self }.map(\.name)
    }

    /// The best this kernel runs: tracepoint programs may call
    /// bpf_task_pt_regs (5.15+), and bpf_rdonly_cast exists (6.2+, about
    /// 0.2 µs less per bind). Probing loads a program: ask once per attempt.
    static func best() -> TracepointVariant {
        guard libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, nil) == 1 else {
            return .entryExitPair
        }
        return bindsnoop_kernel_has_function("bpf_rdonly_cast") != 0 ? .cast : .regs
    }
}
