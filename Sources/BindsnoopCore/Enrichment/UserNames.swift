import CBindsnoop
import Dispatch
import Glibc
import Synchronization

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
/// the process's root (device, inode), read on a thread of their own: the
/// event thread only opens `/proc/PID/root` (a link in procfs, never the
/// container's filesystem, which may be a FUSE mount that hangs) and hands
/// it over. The host's root (pid 1's) is read at start; a root read for the
/// first time is waited for at most `firstReadWait` (50 ms), so that a
/// container's first bind is named; a table older
/// than `maximumAge` is read again while the old one goes on naming. Bounded:
/// 64 roots, regular files of at most 1 MiB, 8 192 names each. Nothing is
/// guessed: a process in a user namespace of its own (its uid_map is not the
/// identity), a root that cannot be opened (after `--user`, another user's
/// process), a read not finished in time or a name that is not there gives no
/// name.
public final class UserNames: Sendable {
    private struct Table {
        var users: [UInt32: [UInt8]]
        var groups: [UInt32: [UInt8]]
        var loadedAt: Double
    }

    private struct State {
        var tables: [RootKey: Table] = [:]
        /// Roots being read, and when they were asked for.
        var reading: [RootKey: Double] = [:]
    }

    /// Roots held; the one loaded longest ago is forgotten first.
    static let maximumRoots = 64
    /// Of each file: bytes read, and names kept.
    static let maximumFileBytes = 1 << 20
    static let maximumNames = 8192
    /// A table older than this is read again when a new process uses it.
    static let maximumAge = 60.0
    /// How long the event thread waits for a root's first read (not at all
    /// while an earlier read has taken longer than this: the reader is stuck).
    static let firstReadWait = 0.05

    private let procRoot: String
    private let state = Mutex(State())
    /// Bumped at each table read: an answer kept by a caller is stale then.
    private let generationCounter = Atomic<UInt64>(0)
    private let queue = DispatchQueue(label: "bindsnoop-user-names")

    public init(procRoot: String = "/proc") {
        self.procRoot = procRoot
    }

    /// Changes when a table is read: names looked up before may differ now.
    public var generation: UInt64 { generationCounter.load(ordering: .relaxed) }

    /// The kernel named `root` as the root of process `pid`: false if its
    /// names are not to be given (its user namespace is not the host's, or
    /// nothing is known of the root and neither it nor its parent is there
    /// to be read). The tables are read if they are not there or not fresh,
    /// through `/proc/PID/root` of the process itself, or of its parent if
    /// the process is gone, but only where that directory is this very root
    /// (a container's first process, whose parent is the runtime, is not
    /// named from the host's files). A first read is waited for, briefly; a
    /// new read of a root known is not.
    public func use(_ root: RootKey, pid: UInt32, parentPID: UInt32) -> Bool {
        let now = monotonicSeconds()
        let candidatePIDs = (pid == parentPID ? [pid] : [pid, parentPID]).filter { $0 > 0 }
        // The ids as the process sees them (procfs, never the container's
        // files); its parent's if it is gone.
        // (A loop, not a lazy compactMap: that one asks twice, and a process
        // that exits in between would answer nil the second time.)
        for candidate in candidatePIDs {
            guard let mapped = identityMapped(pid: candidate) else { continue }
            if !mapped { return false }
            break
        }
        let (known, fresh, reading, stuck) = state.withLock { state in
            let table = state.tables[root]
            return (table != nil, table.map { now - $0.loadedAt < Self.maximumAge } ?? false,
                    state.reading[root] != nil, state.reading.values.contains { now - $0 > Self.firstReadWait })
        }
        if fresh || reading { return true }
        // Opened here (the process may be gone by the time the reader runs),
        // and closed by the reader.
        let handed: [(UInt32, Int32)] = candidatePIDs.compactMap { candidate in
            let fd = bindsnoop_open_path("\(procRoot)/\(candidate)/root")
            return fd >= 0 ? (candidate, fd) : nil
        }
        guard !handed.isEmpty else { return known }
        state.withLock { $0.reading[root] = now }
        let done = DispatchSemaphore(value: 0)
        queue.async { [self] in
            let table = read(root, candidates: handed, now: now)
            for candidate in handed { close(candidate.1) }
            install(table, for: root)
            done.signal()
        }
        if !known && !stuck { _ = done.wait(timeout: .now() + Self.firstReadWait) }
        return true
    }

    /// On the reader's thread: a table read (nil: none), the oldest
    /// forgotten to make room.
    private func install(_ table: Table?, for root: RootKey) {
        state.withLock { state in
            state.reading[root] = nil
            guard let table else { return }
            if state.tables[root] == nil && state.tables.count >= Self.maximumRoots,
               let oldest = state.tables.min(by: { $0.value.loadedAt < $1.value.loadedAt })?.key {
                state.tables[oldest] = nil
            }
            state.tables[root] = table
        }
        generationCounter.add(1, ordering: .relaxed)
    }

    /// At start, on the reader's thread: the tables of process `pid`'s root
    /// (pid 1's: the host's, where most binds come from), so that the first
    /// processes to bind do not wait for them.
    public func prepare(pid: UInt32) {
        let fd = bindsnoop_open_path("\(procRoot)/\(pid)/root")
        guard fd >= 0 else { return }
        let now = monotonicSeconds()
        queue.async { [self] in
            defer { close(fd) }
            guard let root = RootKey(descriptor: fd) else { return }
            install(read(root, candidates: [(pid, fd)], now: now), for: root)
        }
    }

    /// Waits for the reads asked for so far (tests).
    public func waitForReads() { queue.sync {} }

    /// The root of a living process `pid` that started at `startTicks` (read late).
    public func root(ofLiving pid: UInt32, startTicks: UInt64) -> RootKey? {
        let fd = bindsnoop_open_path("\(procRoot)/\(pid)/root")
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard ProcStat(path: "\(procRoot)/\(pid)/stat")?.startTicks == startTicks else { return nil }
        return RootKey(descriptor: fd)
    }

    /// The JSON strings (with their quotes) naming `uid` and `gid` in `root`.
    public func names(root: RootKey, uid: UInt32, gid: UInt32) -> (user: [UInt8]?, group: [UInt8]?) {
        state.withLock { state in
            guard let table = state.tables[root] else { return (nil, nil) }
            return (table.users[uid], table.groups[gid])
        }
    }

    /// On the reader's thread: the tables of `root`, from the first
    /// candidate whose root directory it is; nil if none is.
    private func read(_ root: RootKey, candidates: [(UInt32, Int32)], now: Double) -> Table? {
        guard let fd = candidates.first(where: { RootKey(descriptor: $0.1) == root })?.1 else { return nil }
        return Table(users: load(root: fd, path: "etc/passwd", users: true),
                     groups: load(root: fd, path: "etc/group", users: false), loadedAt: now)
    }

    /// Whether process `pid` sees the kernel's ids as they are (its uid_map
    /// and gid_map are `0 0 4294967295`); nil if it is not there to ask.
    private func identityMapped(pid: UInt32) -> Bool? {
        var answers: [Bool] = []
        for file in ["uid_map", "gid_map"] {
            guard let (bytes, _) = readBounded("\(procRoot)/\(pid)/\(file)", limit: 256) else { return nil }
            let fields = bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == 9 })
            answers.append(fields.map { String(decoding: $0, as: UTF8.self) } == ["0", "0", "4294967295"])
        }
        return answers.allSatisfy { $0 }
    }

    /// The names of a passwd (`users`) or group file below `root`, first
    /// entry of an id kept; empty if it is not a regular file or not readable.
    private func load(root: Int32, path: String, users: Bool) -> [UInt32: [UInt8]] {
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
