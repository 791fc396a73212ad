import Glibc

enum Tracefs {
    static let path = "/sys/kernel/tracing"

    /// libbpf finds tracepoints under tracefs; mount it where it belongs if
    /// nothing provides it yet.
    static func ensureMounted() throws(TracerError) {
        let candidates = [path, "/sys/kernel/debug/tracing"]
        if candidates.contains(where: { access("\($0)/events/syscalls", F_OK) == 0 }) { return }
        if mount("tracefs", path, "tracefs", 0, nil) == 0 { return }
        let reason = errno
        if access("\(path)/events", F_OK) == 0 {
            throw .tracefsUnavailable("no syscalls events under \(path): the kernel lacks CONFIG_FTRACE_SYSCALLS")
        }
        throw .tracefsUnavailable("mounting it on \(path) failed: \(errorName(reason))")
    }
}
