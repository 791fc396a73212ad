import CBindsnoop
import Glibc

/// The programs of bpf/bindsnoop.bpf.c that report binds: one table, from
/// which the modes' program sets (`ProbeMode.programSets`), the tracepoint
/// variants' programs and the self-check's expectations derive. Each
/// program's self-check slot is the C side's (`bindsnoop_program_slot`,
/// from the list in bindsnoop.h); KernelContractTests pins the table to
/// the object's programs and to those slots.
struct KernelProgram: Sendable, Equatable {
    /// Which of the self-check's binds (IPv4, IPv6) the program sees.
    enum Family: Sendable, Equatable {
        case inet, inet6
        /// A system-call tracepoint sees both.
        case either
    }

    let name: String
    /// nil: the release hook, which runs beside every mode.
    let mode: ProbeMode?
    /// The tracepoint variant the program belongs to (tracepoint mode only).
    let variant: TracepointVariant?
    let family: Family
    /// A post-bind hook runs only when the bind succeeded: its self-check needs a success.
    let needsSuccess: Bool

    private init(_ name: String, _ mode: ProbeMode?, _ family: Family, variant: TracepointVariant? = nil,
                 needsSuccess: Bool = false) {
        self.name = name
        self.mode = mode
        self.variant = variant
        self.family = family
        self.needsSuccess = needsSuccess
    }

    /// In each set, the order in which the programs attach.
    static let all: [KernelProgram] = [
        KernelProgram("fexit_inet_bind", .fentry, .inet),
        KernelProgram("fexit_inet6_bind", .fentry, .inet6),
        KernelProgram("kprobe_inet_bind", .kprobe, .inet),
        KernelProgram("kprobe_inet6_bind", .kprobe, .inet6),
        KernelProgram("kretprobe_inet_bind", .kprobe, .inet),
        KernelProgram("kretprobe_inet6_bind", .kprobe, .inet6),
        KernelProgram("tracepoint_sys_exit_bind_cast", .tracepoint, .either, variant: .cast),
        KernelProgram("tracepoint_sys_exit_bind_regs", .tracepoint, .either, variant: .regs),
        KernelProgram("tracepoint_sys_enter_bind", .tracepoint, .either, variant: .entryExitPair),
        KernelProgram("tracepoint_sys_exit_bind_pair", .tracepoint, .either, variant: .entryExitPair),
        KernelProgram("cgroup_bind4", .cgroup, .inet),
        KernelProgram("cgroup_bind6", .cgroup, .inet6),
        KernelProgram("cgroup_post_bind4", .cgroup, .inet, needsSuccess: true),
        KernelProgram("cgroup_post_bind6", .cgroup, .inet6, needsSuccess: true),
        // Runs at the close of the self-check's sockets, bound or not.
        KernelProgram(KernelContract.releaseProgram, nil, .either),
    ]

    static func named(_ name: String) -> KernelProgram? {
        all.first { $0.name == name }
    }

    /// The slot of the `self_checks` map the program marks; nil if the C side names none.
    var selfCheckSlot: Int? {
        let slot = bindsnoop_program_slot(name)
        return slot < 0 ? nil : Int(slot)
    }
}
