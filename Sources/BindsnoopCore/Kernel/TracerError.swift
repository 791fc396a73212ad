import Glibc

/// Why tracing could not start, in words a user can act on.
public enum TracerError: Error, CustomStringConvertible, Equatable {
    case notPrivileged
    /// The capabilities are there, and bpf(2) is refused all the same.
    case bpfRefused(errno: Int32, seccomp: Bool)
    case objectRejected(errno: Int32)
    /// `reason`: what the kernel lacks, where checked, or the verifier's words.
    case modeFailed(ProbeMode, stage: String, errno: Int32, reason: String? = nil)
    case noModeAttached([TracerError])
    case tracefsUnavailable(String)
    case cgroup(path: String, errno: Int32)
    /// Attached, but these programs never ran for bindsnoop's own binds.
    case neverLive(ProbeMode, programs: [String], seconds: Double)

    public var description: String {
        switch self {
        case .notPrivileged:
            return "bindsnoop needs root, or the capabilities CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): run it with sudo"
        case .bpfRefused(let errno, true):
            return "bpf(2) is refused (\(errorName(errno))) although bindsnoop has CAP_BPF and CAP_PERFMON: a seccomp filter is in force (Seccomp: 2 in /proc/self/status), a container runtime's default profile; run it unconfined (Kubernetes: securityContext.seccompProfile.type Unconfined; podman kube play 4.3: the annotation seccomp.security.alpha.kubernetes.io/pod: unconfined; podman or docker run: --security-opt seccomp=unconfined)"
        case .bpfRefused(let errno, false):
            return "bpf(2) is refused (\(errorName(errno))) although bindsnoop has CAP_BPF and CAP_PERFMON: a security module (SELinux, AppArmor, lockdown) refuses it; allow bpf for bindsnoop in its policy"
        case .objectRejected(let errno):
            return "the embedded BPF program could not be opened (\(errorName(errno))): this build is broken, rebuild it"
        case .modeFailed(let mode, let stage, let errno, let reason):
            return "--probe \(mode.rawValue): \(stage) failed (\(errorName(errno)))" + (reason.map { ": \($0)" } ?? Self.hint(mode, errno: errno))
        case .noModeAttached(let failures):
            return "no attach mode works on this kernel: " + failures.map(\.description).joined(separator: "; ")
        case .tracefsUnavailable(let detail):
            return "tracefs is not available (\(detail)): mount it with 'mount -t tracefs tracefs /sys/kernel/tracing'"
        case .neverLive(let mode, let programs, let seconds):
            return "--probe \(mode.rawValue): attached, but \(programs.joined(separator: ", ")) did not run for bindsnoop's own test binds within \(Int(seconds)) s (the kernel never made the hook live); try another --probe mode"
        case .cgroup(let path, let errno):
            return "--cgroup: " + Self.cgroupProblem(path: path, errno: errno)
        }
    }

    /// What is wrong with the cgroup filter's path, for an error naming where it came from.
    public static func cgroupProblem(path: String, errno: Int32) -> String {
        "\(path): cannot open it (\(errorName(errno))): give the path of a cgroup v2 directory, e.g. /sys/fs/cgroup/system.slice"
    }

    /// Whether the failure is about one of these programs (its stage or the kernel's words name it).
    func names(any programs: [String]) -> Bool {
        guard case .modeFailed(_, let stage, _, let reason) = self else { return false }
        let text = stage + " " + (reason ?? "")
        return programs.contains { text.contains($0) }
    }

    private static func hint(_ mode: ProbeMode, errno: Int32) -> String {
        switch (mode, errno) {
        case (.cgroup, ENOENT):
            return ": no cgroup v2 hierarchy is mounted; mount one with 'mount -t cgroup2 none /sys/fs/cgroup/unified'"
        case (.tracepoint, ENOENT):
            return ": the syscall tracepoints are missing (CONFIG_FTRACE_SYSCALLS); use --probe fentry or kprobe"
        case (_, EPERM) where geteuid() != 0, (_, EACCES) where geteuid() != 0:
            return ": run as root or with CAP_BPF and CAP_PERFMON"
        default:
            return ""
        }
    }
}
