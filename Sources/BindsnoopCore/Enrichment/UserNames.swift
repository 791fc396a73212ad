import CBindsnoop
import Glibc

/// A root directory as the kernel knows it: the device and inode of a
/// process's `/proc/PID/root`. Processes of one container share it.
public struct RootKey: Hashable, Sendable {
    /// As stat(2) gives it (glibc's dev_t encoding).
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// A superblock's s_dev (MKDEV: major << 20 | minor) as stat(2)'s st_dev.
    public init(kernelDevice: UInt32, inode: UInt64) {
        let (major, minor) = (UInt64(kernelDevice >> 20), UInt64(kernelDevice & 0xFFFFF))
        device = (major & 0xFFFF_F000) << 32 | (major & 0xFFF) << 8 | (minor & 0xFFFF_FF00) << 12 | (minor & 0xFF)
        self.inode = inode
    }

    /// The root directory of a process, as /proc shows it (nil if it cannot be opened).
    init?(descriptor fd: Int32) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }
}

/// `process.user.name` and `process.group.name` as the process's own
/// `/etc/passwd` and `/etc/group` name them (a container's own, read
/// through its `/proc/PID/root` with openat2's RESOLVE_IN_ROOT, so that its
/// symlinks cannot point outside it). Tables by root, as the kernel names
/// the process's root (device, inode); read once per root and minute, when
/// a process of a root not read for a minute gets its identity (on the
/// event thread: a container's first bind is named; bounded, regular files
/// of at most 1 MiB, non-blocking); then a lookup per event in a table. Nothing
/// is guessed: a process in a user namespace of its own (its uid_map is not
/// the identity), a root that cannot be opened (after `--user`, another
/// user's process) or a name that is not there gives no name.
public struct UserNames {
    private struct Table {
        var users: [UInt32: [UInt8]]
        var groups: [UInt32: [UInt8]]
        var loadedAt: Double
    }

    /// Roots held; the one loaded longest ago is forgotten first.
    static let maximumRoots = 64
    /// Of each file: bytes read, and names kept.
    static let maximumFileBytes = 1 << 20
    static let maximumNames = 8192
    /// A table older than this is read again when a new process uses it.
    static let maximumAge = 60.0

    private let procRoot: String
    private var tables: [RootKey: Table] = [:]

    public init(procRoot: String = "/proc") {
        self.procRoot = procRoot
    }

    /// The root `root` (the kernel's answer for process `pid`), its tables
    /// read if not fresh: through `/proc/PID/root` of the process itself, or
    /// of its parent if the process is gone, but only where that directory
    /// is this very root (a container's first process, whose parent is the
    /// runtime, is not named from the host's files). nil where names cannot
    /// be given.
    public mutating func root(_ root: RootKey, pid: UInt32, parentPID: UInt32) -> RootKey? {
        let now = monotonicSeconds()
        if let table = tables[root], now - table.loadedAt < Self.maximumAge { return root }
        for candidate in [pid, parentPID] where candidate > 0 {
            let fd = bindsnoop_open_path("\(procRoot)/\(candidate)/root")
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard RootKey(descriptor: fd) == root else { continue }
            guard identityMapped(pid: candidate, file: "uid_map"), identityMapped(pid: candidate, file: "gid_map") else {
                return nil
            }
            if tables[root] == nil && tables.count >= Self.maximumRoots,
               let oldest = tables.min(by: { $0.value.loadedAt < $1.value.loadedAt })?.key {
                tables[oldest] = nil
            }
            tables[root] = Table(users: load(root: fd, path: "etc/passwd", users: true),
                                 groups: load(root: fd, path: "etc/group", users: false), loadedAt: now)
            return root
        }
        // Not readable now: an older table of this root still names it.
        return tables[root] == nil ? nil : root
    }

    /// The root of a living process `pid` that started at `startTicks` (read late).
    public func root(ofLiving pid: UInt32, startTicks: UInt64) -> RootKey? {
        let fd = bindsnoop_open_path("\(procRoot)/\(pid)/root")
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard ProcStat(path: "\(procRoot)/\(pid)/stat")?.startTicks == startTicks else { return nil }
        return RootKey(descriptor: fd)
    }

    /// The JSON string (with its quotes) naming `uid` (or `gid`) in `root`.
    public func userName(root: RootKey, uid: UInt32) -> [UInt8]? { tables[root]?.users[uid] }
    public func groupName(root: RootKey, gid: UInt32) -> [UInt8]? { tables[root]?.groups[gid] }

    /// The process sees the kernel's ids as they are: its map is `0 0 4294967295`.
    private func identityMapped(pid: UInt32, file: String) -> Bool {
        guard let (bytes, _) = readBounded("\(procRoot)/\(pid)/\(file)", limit: 256) else { return false }
        let fields = bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == 9 })
        return fields.map { String(decoding: $0, as: UTF8.self) } == ["0", "0", "4294967295"]
    }

    /// The names of a passwd (`users`) or group file below `root`, first
    /// entry of an id kept; empty if it is not a regular file or not readable.
    private mutating func load(root: Int32, path: String, users: Bool) -> [UInt32: [UInt8]] {
        let fd = bindsnoop_open_in_root(root, path)
        guard fd >= 0 else { return [:] }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return [:] }
        let contents = readBounded(descriptor: fd, limit: Self.maximumFileBytes).bytes
        return contents.isEmpty ? [:] : Self.names(in: contents, users: users)
    }

    /// glibc's own parser (fgetpwent_r, fgetgrent_r) over the bytes read.
    static func names(in contents: [UInt8], users: Bool) -> [UInt32: [UInt8]] {
        var contents = contents
        var names: [UInt32: [UInt8]] = [:]
        contents.withUnsafeMutableBytes { bytes in
            guard let stream = fmemopen(bytes.baseAddress, bytes.count, "r") else { return }
            defer { fclose(stream) }
            var buffer = [CChar](repeating: 0, count: 64 << 10)
            while names.count < maximumNames {
                var name: UnsafeMutablePointer<CChar>?
                var id: UInt32 = 0
                let status: Int32
                if users {
                    var entry = passwd()
                    var result: UnsafeMutablePointer<passwd>?
                    status = fgetpwent_r(stream, &entry, &buffer, buffer.count, &result)
                    if status == 0, result != nil { (name, id) = (entry.pw_name, entry.pw_uid) }
                } else {
                    var entry = group()
                    var result: UnsafeMutablePointer<group>?
                    status = fgetgrent_r(stream, &entry, &buffer, buffer.count, &result)
                    if status == 0, result != nil { (name, id) = (entry.gr_name, entry.gr_gid) }
                }
                guard status == 0 else { break }  // ENOENT at the end; an entry too long ends the file too
                guard let name, names[id] == nil else { continue }
                let length = strlen(name)
                // "+name" and "-name": NIS compat lines, no names of this file's own.
                guard length > 0, name[0] != CChar(UInt8(ascii: "+")), name[0] != CChar(UInt8(ascii: "-")) else { continue }
                var out = OutputBuffer(capacity: length + 8)
                out.appendJSONString(UnsafeRawBufferPointer(start: name, count: length))
                names[id] = out.bytes
            }
        }
        return names
    }
}
