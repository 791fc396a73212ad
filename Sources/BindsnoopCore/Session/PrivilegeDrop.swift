import CBindsnoop
import Foundation

/// The unprivileged user bindsnoop becomes once everything that needs root
/// is done: the programs loaded and attached, tracefs mounted, the sinks
/// open. What it keeps are open descriptors (ring buffer, BPF links and
/// maps, output files, the log directory it may write to); what it gives
/// up is every capability, for good.
public struct PrivilegeDrop: Sendable, Equatable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t

    /// A user name or a numeric uid; refused when unknown or root.
    public init(user: String, source: ConfigSource) throws(ConfigError) {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if let number = UInt32(user) {
            getpwuid_r(number, &entry, &buffer, buffer.count, &result)
        } else {
            getpwnam_r(user, &entry, &buffer, buffer.count, &result)
        }
        guard result != nil else {
            throw ConfigError(source: source, "no such user \(user): name an existing unprivileged user, e.g. nobody")
        }
        guard entry.pw_uid != 0 else {
            throw ConfigError(source: source, "\(user) is root: name an unprivileged user to run as after attaching")
        }
        name = user
        uid = entry.pw_uid
        gid = entry.pw_gid
    }

    public enum Failure: Error, CustomStringConvertible {
        case call(String, Int32)
        case stillPrivileged(String)

        public var description: String {
            switch self {
            case .call(let what, let errno): "dropping privileges: \(what) failed (\(errorName(errno)))"
            case .stillPrivileged(let detail): "dropping privileges: still privileged afterwards (\(detail))"
            }
        }
    }

    /// Switches every thread to the user and checks that no capability is left.
    public func apply() throws(Failure) {
        let lastCapability = (try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 40
        for capability in 0...lastCapability {  // nothing can be regained through exec either
            guard bindsnoop_prctl(PR_CAPBSET_DROP, UInt(capability)) == 0 else { throw .call("PR_CAPBSET_DROP", errno) }
        }
        guard setgroups(0, nil) == 0 else { throw .call("setgroups", errno) }
        guard bindsnoop_setresgid(gid) == 0 else { throw .call("setresgid(\(gid))", errno) }
        // glibc applies set*id to every thread; the kernel clears the
        // permitted, effective and ambient capabilities of each.
        guard bindsnoop_setresuid(uid) == 0 else { throw .call("setresuid(\(uid))", errno) }
        guard bindsnoop_prctl(PR_SET_NO_NEW_PRIVS, 1) == 0 else { throw .call("PR_SET_NO_NEW_PRIVS", errno) }
        try verify()
    }

    private func verify() throws(Failure) {
        guard getuid() == uid, geteuid() == uid, getgid() == gid, getegid() == gid else {
            throw .stillPrivileged("uid \(getuid())/\(geteuid()), gid \(getgid())/\(getegid())")
        }
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return }
        for line in status.split(separator: "\n") where ["CapPrm:", "CapEff:", "CapAmb:"].contains(where: line.hasPrefix) {
            guard line.hasSuffix("0000000000000000") else { throw .stillPrivileged(String(line)) }
        }
    }
}

extension PrivilegeDrop {
    /// After `apply()`, before `attached`: what the outputs will need later
    /// (a new file at rotation, a reconnect), tried as the user now. The open
    /// descriptors work whatever the paths allow; this finds a path the user
    /// cannot reach before it costs events. access(2) checks the real ids,
    /// which are the user's once dropped.
    public func checkOutputs(_ sinks: SinkSettings, sources: (String) -> ConfigSource) throws(ConfigError) {
        if let file = sinks.file {
            let directory = (file.path as NSString).deletingLastPathComponent
            let place = directory.isEmpty ? "." : directory
            if access(place, W_OK | X_OK) != 0 {
                throw ConfigError(source: sources("sinks.file.path"),
                                  "\(name) (uid \(uid)) cannot create files in \(place) (\(errorName(errno))): bindsnoop writes and rotates there after --user; give the user search permission on every parent directory, or choose a directory it can reach")
            }
            if access(file.path, W_OK) != 0 && errno != ENOENT {
                throw ConfigError(source: sources("sinks.file.path"),
                                  "\(name) (uid \(uid)) cannot write \(file.path) (\(errorName(errno))): give the file to the user or remove it")
            }
        }
        if let unix = sinks.unix, access(unix.path, W_OK) != 0, errno != ENOENT {
            // ENOENT: the forwarder is not up yet (the sink waits for it); anything else will not pass on a reconnect either.
            throw ConfigError(source: sources("sinks.unix.path"),
                              "\(name) (uid \(uid)) may not connect to \(unix.path) (\(errorName(errno))): give the socket's group or mode to the user (and search permission on its directories), or run the forwarder's socket elsewhere")
        }
    }
}
