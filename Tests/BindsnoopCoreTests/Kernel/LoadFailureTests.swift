@testable import BindsnoopCore
import Testing

/// The kernel's words for a refused program, from what libbpf printed.
@Suite struct LoadFailureTests {
    /// Debian 11's 5.10 refusing a fetching atomic (captured in the guest).
    @Test func oldKernelRefusingAFetchingAtomic() throws {
        let log = """
            libbpf: prog 'tracepoint_sys_exit_bind_pair': BPF program load failed: Invalid argument
            libbpf: prog 'tracepoint_sys_exit_bind_pair': -- BEGIN PROG LOAD LOG --
            BPF_STX uses reserved fields
            processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
            -- END PROG LOAD LOG --
            libbpf: prog 'tracepoint_sys_exit_bind_pair': failed to load: -22
            libbpf: failed to load object 'bindsnoop'

            """
        let failure = try #require(LoadFailure(libbpfLog: log))
        #expect(failure.program == "tracepoint_sys_exit_bind_pair")
        #expect(failure.message == "BPF_STX uses reserved fields")
        #expect(failure.description == "tracepoint_sys_exit_bind_pair: BPF_STX uses reserved fields (kernel older than 5.12?)")
    }

    /// A 6.18 verifier log: the message is the last line that is not an
    /// instruction, a register state, a source line or the statistics.
    @Test func verifierMessageAmongInstructions() throws {
        let log = """
            libbpf: prog 'bad_prog': BPF program load failed: Permission denied
            libbpf: prog 'bad_prog': -- BEGIN PROG LOAD LOG --
            func#0 @0
            Live regs before insn:
                  0: .......... (85) call bpf_get_current_task#35
                  1: 0......... (79) r1 = *(u64 *)(r0 +0)
            arg#0 reference type('UNKNOWN ') size cannot be determined: -22
            0: R1=ctx() R10=fp0
            ; long *p = (long *)bpf_get_current_task(); @ bad.bpf.c:6
            0: (85) call bpf_get_current_task#35          ; R0=scalar()
            ; return *p > 3; @ bad.bpf.c:7
            1: (79) r1 = *(u64 *)(r0 +0)
            R0 invalid mem access 'scalar'
            verification time 43 usec
            stack depth 0
            processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
            -- END PROG LOAD LOG --
            libbpf: prog 'bad_prog': failed to load: -13

            """
        let failure = try #require(LoadFailure(libbpfLog: log))
        #expect(failure.program == "bad_prog")
        #expect(failure.message == "R0 invalid mem access 'scalar'")
        #expect(failure.hint == nil)
    }

    /// No verifier log (an attach failure): libbpf's own last word about the program.
    @Test func attachFailureWithoutLog() throws {
        let log = """
            libbpf: prog 'kprobe_inet_bind': failed to create kprobe 'inet_bind+0x0' perf event: No such file or directory

            """
        let failure = try #require(LoadFailure(libbpfLog: log))
        #expect(failure.program == "kprobe_inet_bind")
        #expect(failure.message == "failed to create kprobe 'inet_bind+0x0' perf event: No such file or directory")
    }

    @Test func nothingAboutAProgram() {
        #expect(LoadFailure(libbpfLog: "") == nil)
        #expect(LoadFailure(libbpfLog: "libbpf: failed to find valid kernel BTF\n") == nil)
    }
}
