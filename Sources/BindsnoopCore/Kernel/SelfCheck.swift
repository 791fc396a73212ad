import CBindsnoop
import Glibc

/// "attached" means live: a hook can go live some time after the kernel
/// accepted it (a syscall tracepoint here, about 150 ms after its perf
/// event is enabled). So after attaching, the starting thread binds UDP
/// sockets of its own (the wildcard address, port 0, IPv4 and IPv6) until
/// every attached program has marked its slot in the `self_checks` map.
/// The programs report none of these binds: they know the thread, which ran
/// `whoami` first (its pid as the kernel sees it, in a container too).
struct SelfCheck {
    /// Bytes between two slots in the mapped array: the kernel rounds an
    /// array's values up to 8 bytes.
    static let slotStride = 8

    /// How long a hook may take to go live before bindsnoop gives up on the mode.
    static let timeout = 5.0

    /// Binds until every program in `programs` has seen one, on the thread
    /// that configured the object. Returns the seconds it took; throws the
    /// programs that never ran. `seen`: the `self_checks` map, mapped.
    static func awaitLive(mode: ProbeMode, programs: [String], seen: UnsafeMutableRawPointer) throws(TracerError) -> Double {
        let start = monotonicSeconds()
        var waiting = programs
        while true {
            waiting = notSeen(programs: waiting, seen: seen)
            let elapsed = monotonicSeconds() - start
            if waiting.isEmpty { return elapsed }
            if elapsed > timeout { throw .neverLive(mode, programs: waiting, seconds: timeout) }
            usleep(2_000)
        }
    }

    /// Once, while tracing: clears the slots, binds, and returns the programs
    /// that did not run (a hook runs inside the bind, so there is no wait).
    /// Must run on the thread that ran `whoami`.
    static func recheck(programs: [String], seen: UnsafeMutableRawPointer) -> [String] {
        for name in programs {
            if let slot = KernelProgram.named(name)?.selfCheckSlot { bindsnoop_write_u32(seen + slot * slotStride, 0) }
        }
        return notSeen(programs: programs, seen: seen)
    }

    /// One IPv4 and one IPv6 bind; the programs whose slot is still clear.
    private static func notSeen(programs: [String], seen: UnsafeMutableRawPointer) -> [String] {
        let v4 = wildcardBind(family: AF_INET)
        let v6 = wildcardBind(family: AF_INET6)
        return programs.filter { name in
            guard let program = KernelProgram.named(name), let slot = program.selfCheckSlot else { return false }
            // A family this host lacks, or a failed bind for a post-bind hook: nothing to wait for.
            let outcome = switch program.family {
            case .inet: v4
            case .inet6: v6
            case .either: v4 ?? v6
            }
            if outcome == nil || (program.needsSuccess && outcome == false) { return false }
            return bindsnoop_read_u32(seen + slot * slotStride) == 0
        }
    }
}
