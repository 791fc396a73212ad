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

    /// The kernel can create kprobes: the perf event source libbpf uses, or
    /// the legacy kprobe_events file.
    static var hasKprobes: Bool {
        let places: [String] = ["/sys/bus/event_source/devices/kprobe", "\(path)/kprobe_events",
                                "/sys/kernel/debug/tracing/kprobe_events"]
        return places.contains { (place: String) in access(place, F_OK) == 0 }
    }
}
