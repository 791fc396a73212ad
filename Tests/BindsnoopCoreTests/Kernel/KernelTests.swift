@testable import BindsnoopCore
import CBindsnoop
import Testing

/// What user space decides before load: the kernel's filter config, the modes to try, privileges.
@Suite struct KernelTests {
    @Test func kernelConfigFromFilter() {
        let config = KernelFilter(pid: 42, uid: 0, cgroupPath: "/sys/fs/cgroup/x", outcome: .failure,
                                  ports: [80, 443]).kernelConfig
        #expect(config.pid == 42)
        #expect(config.uid == 0)
        #expect(config.filter_cgroup == 1)
        #expect(config.outcome == UInt8(BINDSNOOP_OUTCOME_FAILURE.rawValue))
        #expect(config.port_count == 2)
        #expect(config.ports.0 == 80 && config.ports.1 == 443)
        let open = KernelFilter().kernelConfig
        #expect(open.pid == 0 && open.uid == UInt32.max && open.port_count == 0 && open.filter_cgroup == 0)
    }

    @Test func probeSelection() {
        #expect(ProbeSelection(argument: "auto")?.candidates == [.fentry, .kprobe, .tracepoint])
        #expect(ProbeSelection(argument: "kprobe")?.candidates == [.kprobe])
        #expect(ProbeSelection(argument: "uprobe") == nil)
    }

    @Test func capabilityParsing() {
        #expect(Privileges.canLoadBPF(status: "Name:\tx\nCapEff:\t000001ffffffffff\n"))
        #expect(Privileges.canLoadBPF(status: "CapEff:\t000000c000000000\n"))  // CAP_BPF + CAP_PERFMON
        #expect(!Privileges.canLoadBPF(status: "CapEff:\t0000008000000000\n"))  // CAP_BPF alone
        #expect(Privileges.seccompFiltered(status: "Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t1\n"))
        #expect(!Privileges.seccompFiltered(status: "Seccomp:\t0\nSeccomp_filters:\t0\n"))
        #expect(TracerError.bpfRefused(errno: EPERM, seccomp: true).description.contains("seccompProfile.type Unconfined"))
        #expect(!Privileges.canLoadBPF(status: "CapEff:\t0000000000000000\n"))
    }
}
