import ArgumentParser
import BindsnoopCore

/// The exit codes the README documents (sysexits.h where one fits).
enum BindsnoopExit {
    static let usage: Int32 = 64        // EX_USAGE: bad flag or value
    static let unavailable: Int32 = 69  // EX_UNAVAILABLE: no attach mode works here
    static let software: Int32 = 70     // EX_SOFTWARE: the embedded program is broken
    static let osError: Int32 = 71      // EX_OSERR: the system refused a resource (signalfd)
    static let ioError: Int32 = 74      // EX_IOERR: an output could not be written
    static let noPermission: Int32 = 77 // EX_NOPERM: not root, missing CAP_BPF/CAP_PERFMON, or bpf(2) refused (seccomp, LSM)
    static let config: Int32 = 78       // EX_CONFIG: bad configuration file or environment

    static func code(for error: TracerError) -> Int32 {
        switch error {
        case .notPrivileged, .bpfRefused: noPermission
        case .objectRejected: software
        case .cgroup: usage
        case .modeFailed, .noModeAttached, .tracefsUnavailable, .neverLive: unavailable
        }
    }
}

/// Why bindsnoop stops early: one line for stderr and its exit code.
struct Failure: Error {
    let message: String
    let code: Int32

    init(_ message: String, code: Int32) {
        self.message = message
        self.code = code
    }

    /// A configured value the run cannot use: a flag's is a usage error (64),
    /// a variable's or the file's a configuration error (78).
    init(_ error: ConfigError) {
        self.init(error.description, code: error.isUsageError ? BindsnoopExit.usage : BindsnoopExit.config)
    }
}
