import CBindsnoop
import Glibc

/// SIGINT, SIGTERM and SIGHUP as readable events on a descriptor (signalfd),
/// so the event loop handles them between batches instead of in a handler.
/// SIGPIPE is ignored: a closed reader shows up as EPIPE on write.
public final class SignalWatcher {
    public let fd: Int32

    public enum Received: Sendable { case stop, reopen }

    /// Call before any thread starts, so every thread inherits the mask.
    /// Throws signalfd's errno, with the signals unblocked again (blocked
    /// and unwatched, only SIGKILL would stop bindsnoop).
    public init() throws(Errno) {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        fd = signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        if fd < 0 {
            let code = errno
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            throw Errno(code)
        }
    }

    deinit {
        close(fd)
    }

    /// The signals that arrived since the last call.
    public func drain() -> [Received] {
        var received: [Received] = []
        var info = signalfd_siginfo()
        while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            received.append(Int32(info.ssi_signo) == SIGHUP ? .reopen : .stop)
        }
        return received
    }
}
