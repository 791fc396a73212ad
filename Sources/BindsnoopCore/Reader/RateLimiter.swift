/// `--rate-limit N/s`: per process (tgid), at most `limit` events in each
/// one-second window of the kernel's boot clock; the rest are counted, not
/// encoded, and reported once a second per limited process. A process
/// unseen for a whole window is forgotten, so a storm of short-lived
/// processes costs one entry per live process.
struct RateLimiter {
    struct Suppressed: Equatable {
        var pid: UInt32
        var count: UInt64
        /// The process name (comm, up to its first NUL) of the window's first event held back.
        var name: [UInt8]
    }

    private struct Window {
        var start: UInt64
        var admitted: UInt32
        var suppressed: UInt64
        var name: [UInt8]
    }

    let limit: UInt32
    private var windows: [UInt32: Window] = [:]
    /// Events suppressed since start.
    private(set) var total: UInt64 = 0

    static let window: UInt64 = 1_000_000_000

    init(limit: UInt32) {
        self.limit = limit
    }

    /// Whether the event of `pid` at `bootNanoseconds` may be written.
    /// `name` is asked once per window, at the first event suppressed.
    mutating func admit(pid: UInt32, at bootNanoseconds: UInt64, name: () -> [UInt8]) -> Bool {
        if var window = windows[pid], bootNanoseconds &- window.start < Self.window {
            guard window.admitted >= limit else {
                window.admitted += 1
                windows[pid] = window
                return true
            }
            window.suppressed += 1
            if window.name.isEmpty { window.name = name() }
            windows[pid] = window
            total += 1
            return false
        }
        // A new window keeps what the last one suppressed until it is reported.
        let carried = windows[pid]
        windows[pid] = Window(start: bootNanoseconds, admitted: 1, suppressed: carried?.suppressed ?? 0, name: carried?.name ?? [])
        return true
    }

    /// The processes with events suppressed since the last call (by pid);
    /// forgets those idle for a whole window before `bootNanoseconds`.
    mutating func takeSuppressed(now bootNanoseconds: UInt64) -> [Suppressed] {
        var report: [Suppressed] = []
        for (pid, window) in windows {
            if window.suppressed > 0 { report.append(Suppressed(pid: pid, count: window.suppressed, name: window.name)) }
            if bootNanoseconds &- window.start >= 2 * Self.window {
                windows[pid] = nil
            } else if window.suppressed > 0 {
                windows[pid]!.suppressed = 0
                windows[pid]!.name = []
            }
        }
        return report.sorted { $0.pid < $1.pid }
    }
}
