import CBindsnoop
import CNettle
import Glibc

/// The identity of each process that binds, by pid, as encoded fragments
/// that an event pastes: the kernel sends it once per process and exec
/// (`struct process_identity`), before that process's first bind record;
/// every bind record carries the process's start and exec count, so an
/// answer is used only for the very process and exec it describes. A bind whose process has no
/// kernel record here (the kernel's record found no room, or this cache
/// forgot it) gets one read from `/proc`, marked as read late, if the pid
/// still names the process that bound; else only what the bind record
/// itself tells (start, entity id), marked `none`. Bounded by entries and by
/// bytes: the oldest are forgotten first (a later bind of theirs reads `/proc`).
public struct ProcessIdentities {
    /// What an event pastes: inside `process`, inside `process.parent`, inside `bind`.
    public struct Fragments: Sendable {
        public var process: [UInt8]
        public var parent: [UInt8]
        public var bind: [UInt8]
        /// Where `process`'s last members, `start` and `entity_id`, begin
        /// (a release line has those, not the program and its arguments).
        public var startOffset = 0
        /// The process's root, for user and group names.
        public var root: RootKey?
        var byteCount: Int { process.count + parent.count + bind.count }
    }

    /// Which process and which of its execs: what a bind record names.
    private struct Instance: Equatable {
        var startNanoseconds: UInt64
        var execID: UInt32
    }

    private struct Entry {
        var instance: Instance
        var fragments: Fragments
        var serial: UInt64
        /// The exec before this one, kept for its binds still on their way
        /// (cgroup mode reports a failed bind up to a second later).
        var previous: (instance: Instance, fragments: Fragments)?
        var byteCount: Int { fragments.byteCount + (previous?.fragments.byteCount ?? 0) }
    }

    public static let defaultCapacity = 16_384
    public static let defaultByteBudget = 16 << 20
    /// How often the entries of processes that have exited are forgotten
    /// (those stored before the last sweep, so at least this long ago: a
    /// bind reported late, as cgroup mode reports a failed one a second
    /// later, still finds its process).
    public static let exitedSweepInterval = 10.0

    private let hostID: String
    private let bootID: String
    private let ticksPerSecond: UInt64
    private let procRoot: String
    /// process.start's wall clock, measured once: a process's start reads the
    /// same in each of its events (its identity is encoded again after an
    /// exec), where the per-batch clock would move it by a few nanoseconds.
    private let clock: WallClock
    private let capacity: Int
    private let byteBudget: Int
    private var entries: [UInt32: Entry] = [:]
    private var order: [(pid: UInt32, serial: UInt64)] = []
    private var orderHead = 0
    private var serial: UInt64 = 0
    private var last: (pid: UInt32, instance: Instance, fragments: Fragments)?
    private var lastNames: (root: RootKey, uid: UInt32, gid: UInt32, generation: UInt64, names: (user: [UInt8]?, group: [UInt8]?))?
    private var bytes = 0
    private var lastExitedSweep = monotonicSeconds()
    private var serialAtLastSweep: UInt64 = 0
    /// user.name and group.name, by the process's root.
    public let users: UserNames
    /// Binds answered from `/proc` (late), and binds with no identity at all.
    public private(set) var readLate: UInt64 = 0
    public private(set) var unavailable: UInt64 = 0

    public init(host: HostMetadata, procRoot: String = "/proc", clock: WallClock = .current(),
                capacity: Int = defaultCapacity, byteBudget: Int = defaultByteBudget) {
        hostID = host.machineID ?? ""
        bootID = host.bootID ?? ""
        ticksPerSecond = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        self.procRoot = procRoot
        self.clock = clock
        users = UserNames(procRoot: procRoot)
        users.prepare(pid: 1)
        self.capacity = max(capacity, 1)
        self.byteBudget = byteBudget
    }

    /// Entries held, and the bytes of their fragments.
    public var count: Int { entries.count }
    public var byteCount: Int { bytes }

    /// The kernel's record of a process (a ring-buffer sample of its size);
    /// false if the sample is not one.
    public mutating func store(record sample: UnsafeRawBufferPointer) -> Bool {
        guard let identity = ProcessIdentity(record: sample, ticksPerSecond: ticksPerSecond) else { return false }
        store(identity)
        return true
    }

    public mutating func store(_ identity: ProcessIdentity) {
        var fragments = encode(identity)
        fragments.root = identity.root.flatMap { users.use($0, pid: identity.pid, parentPID: identity.parentPID) ? $0 : nil }
        insert(pid: identity.pid, instance: Instance(startNanoseconds: identity.startNanoseconds, execID: identity.execID),
               fragments: fragments)
    }

    /// The fragments for the process `pid` that started at `startNanoseconds`,
    /// in its exec `execID`, and was called `name` (its comm) when it bound.
    public mutating func fragments(pid: UInt32, startNanoseconds: UInt64, execID: UInt32,
                                   name: UnsafeRawBufferPointer) -> Fragments {
        let instance = Instance(startNanoseconds: startNanoseconds, execID: execID)
        // A storm from one process: the same answer as for the bind before.
        if let last, last.pid == pid, last.instance == instance { return last.fragments }
        if let entry = entries[pid] {
            if entry.instance == instance {
                last = (pid, instance, entry.fragments)
                return entry.fragments
            }
            if let previous = entry.previous, previous.instance == instance { return previous.fragments }
        }
        var fragments: Fragments
        if let identity = readProc(pid: pid, startNanoseconds: startNanoseconds, name: Array(name)) {
            readLate += 1
            fragments = encode(identity)
            fragments.root = identity.root.flatMap { users.use($0, pid: pid, parentPID: identity.parentPID) ? $0 : nil }
        } else {
            unavailable += 1
            fragments = encodeUnavailable(pid: pid, startNanoseconds: startNanoseconds)
        }
        insert(pid: pid, instance: instance, fragments: fragments)
        last = (pid, instance, fragments)
        return fragments
    }

    /// The names of `uid` and `gid` in `root`, the last answer kept for a storm.
    public mutating func names(root: RootKey, uid: UInt32, gid: UInt32) -> (user: [UInt8]?, group: [UInt8]?) {
        let generation = users.generation
        if let lastNames, lastNames.root == root, lastNames.uid == uid, lastNames.gid == gid,
           lastNames.generation == generation { return lastNames.names }
        let names = users.names(root: root, uid: uid, gid: gid)
        lastNames = (root, uid, gid, generation, names)
        return names
    }

    // MARK: - The entity id

    /// 128 bits of SHA-256 over `host id:boot id:pid:start ticks`, in hex
    /// (README, "Process identity"): what anyone computes later from
    /// `/etc/machine-id`, `/proc/sys/kernel/random/boot_id` and field 22 of
    /// `/proc/PID/stat`.
    public func entityID(pid: UInt32, startTicks: UInt64) -> String {
        let input = Array("\(hostID):\(bootID):\(pid):\(startTicks)".utf8)
        var digest = [UInt8](repeating: 0, count: 32)
        input.withUnsafeBytes { bindsnoop_sha256($0.baseAddress, $0.count, &digest) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(32)
        for byte in digest.prefix(16) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: - Encoding

    private func encode(_ identity: ProcessIdentity) -> Fragments {
        var process = OutputBuffer(capacity: 1024)
        if let executable = identity.executable {
            process.append(",\"executable\":")
            executable.withUnsafeBytes { process.appendJSONString($0) }
        }
        if let arguments = identity.arguments {
            process.append(",\"args\":[")
            for (i, argument) in arguments.enumerated() {
                if i > 0 { process.append(",") }
                argument.withUnsafeBytes { process.appendJSONString($0) }
            }
            process.append("],\"args_count\":")
            process.append(decimal: UInt64(arguments.count))
        }
        let startOffset = process.count
        appendStart(pid: identity.pid, startNanoseconds: identity.startNanoseconds, startTicks: identity.startTicks,
                    into: &process)

        var parent = OutputBuffer(capacity: 128)
        if let name = identity.parentName, !name.isEmpty {
            parent.append(",\"name\":")
            name.withUnsafeBytes { parent.appendJSONString($0) }
        }
        if let ticks = identity.parentStartTicks, identity.parentPID > 0 {
            parent.append(",\"entity_id\":\"")
            parent.append(contentsOf: Array(entityID(pid: identity.parentPID, startTicks: ticks).utf8))
            parent.append("\"")
        }

        var bind = OutputBuffer(capacity: 128)
        bind.append(",\"identity\":{\"source\":\"")
        bind.append(contentsOf: Array(identity.source.rawValue.utf8))
        bind.append("\"")
        let cut = [identity.executableCut ? "executable" : nil, identity.argumentsCut ? "args" : nil].compactMap { $0 }
        if !cut.isEmpty {
            bind.append(",\"truncated\":[")
            bind.append(contentsOf: Array(cut.map { "\"\($0)\"" }.joined(separator: ",").utf8))
            bind.append("]")
        }
        if identity.executableDeleted { bind.append(",\"executable_deleted\":true") }
        bind.append("}")
        return Fragments(process: process.bytes, parent: parent.bytes, bind: bind.bytes, startOffset: startOffset)
    }

    /// Only what the bind record tells: when the process started, and so its entity id.
    private func encodeUnavailable(pid: UInt32, startNanoseconds: UInt64) -> Fragments {
        var process = OutputBuffer(capacity: 128)
        appendStart(pid: pid, startNanoseconds: startNanoseconds,
                    startTicks: ProcessIdentity.ticks(nanoseconds: startNanoseconds, perSecond: ticksPerSecond),
                    into: &process)
        return Fragments(process: process.bytes, parent: [], bind: Array(",\"identity\":{\"source\":\"none\"}".utf8))
    }

    private func appendStart(pid: UInt32, startNanoseconds: UInt64, startTicks: UInt64, into out: inout OutputBuffer) {
        out.append(",\"start\":\"")
        RFC3339.append(unixNanoseconds: clock.unixNanoseconds(bootNanoseconds: startNanoseconds), to: &out)
        out.append("\",\"entity_id\":\"")
        out.append(contentsOf: Array(entityID(pid: pid, startTicks: startTicks).utf8))
        out.append("\"")
    }

    // MARK: - The bounded cache

    private mutating func insert(pid: UInt32, instance: Instance, fragments: Fragments) {
        if last?.pid == pid { last = nil }
        lastNames = nil  // a root's table may have been read again
        serial += 1
        var entry = Entry(instance: instance, fragments: fragments, serial: serial)
        if let old = entries[pid] {
            bytes -= old.byteCount
            if old.instance.startNanoseconds == instance.startNanoseconds && old.instance != instance {
                entry.previous = (old.instance, old.fragments)
            }
        }
        entries[pid] = entry
        bytes += entry.byteCount
        order.append((pid, serial))
        while entries.count > capacity || bytes > byteBudget, orderHead < order.count {
            let oldest = order[orderHead]
            orderHead += 1
            if let entry = entries[oldest.pid], entry.serial == oldest.serial {
                entries[oldest.pid] = nil
                bytes -= entry.byteCount
            }
        }
        if orderHead > 4096 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }

    /// Every `exitedSweepInterval`: forgets the processes that are gone
    /// (kill(pid, 0) says ESRCH; a pid taken again by a new process keeps
    /// its entry until that process's identity replaces it) and gives the
    /// memory back, so that a host where thousands of short-lived processes
    /// bound once returns to what its live processes need. The entries
    /// forgotten.
    @discardableResult
    public mutating func forgetExited(now: Double? = nil) -> Int {
        let now = now ?? monotonicSeconds()
        guard now - lastExitedSweep >= Self.exitedSweepInterval else { return 0 }
        let cutoff = serialAtLastSweep
        (lastExitedSweep, serialAtLastSweep) = (now, serial)
        let gone = entries.compactMap { pid, entry in
            entry.serial <= cutoff && kill(pid_t(bitPattern: pid), 0) != 0 && errno == ESRCH ? pid : nil
        }
        guard !gone.isEmpty else { return 0 }
        let bytesBefore = bytes
        for pid in gone {
            if let entry = entries.removeValue(forKey: pid) { bytes -= entry.byteCount }
            if last?.pid == pid { last = nil }
        }
        order = order[orderHead...].filter { entries[$0.pid]?.serial == $0.serial }
        orderHead = 0
        if entries.count * 4 < entries.capacity { entries = entries.filter { _ in true } }  // a smaller table
        if bytesBefore - bytes >= 1 << 20 { _ = malloc_trim(0) }
        return gone.count
    }

    // MARK: - /proc, late

    /// The process as `/proc` shows it now, if `pid` still is the process
    /// that started at `startNanoseconds` (its clock ticks match) and has
    /// not exited. Its executable and arguments only if it still has the
    /// name it bound with: an exec since (which renames it) would show
    /// another program's. nil: nothing known but what the bind record says.
    func readProc(pid: UInt32, startNanoseconds: UInt64, name: [UInt8]) -> ProcessIdentity? {
        let ticks = ProcessIdentity.ticks(nanoseconds: startNanoseconds, perSecond: ticksPerSecond)
        guard let stat = ProcStat(path: "\(procRoot)/\(pid)/stat"), stat.startTicks == ticks, stat.state != UInt8(ascii: "Z"),
              stat.state != UInt8(ascii: "X") else { return nil }
        var identity = ProcessIdentity(pid: pid, startNanoseconds: startNanoseconds, startTicks: ticks, executable: nil,
                                       arguments: nil, parentPID: stat.parentPID, parentStartTicks: nil, parentName: nil,
                                       source: .proc)
        if let parent = ProcStat(path: "\(procRoot)/\(stat.parentPID)/stat") {
            identity.parentStartTicks = parent.startTicks
            identity.parentName = parent.name
        }
        identity.root = users.root(ofLiving: pid, startTicks: ticks)
        guard stat.name == name else { return identity }
        if var executable = readLink("\(procRoot)/\(pid)/exe") {
            let deleted = Array(" (deleted)".utf8)
            if executable.count > deleted.count, Array(executable.suffix(deleted.count)) == deleted {
                executable.removeLast(deleted.count)
                identity.executableDeleted = true
            }
            // As the process's own root sees it: without the path of that root here.
            if let root = readLink("\(procRoot)/\(pid)/root"), root != Array("/".utf8),
               executable.count > root.count, Array(executable.prefix(root.count)) == root,
               executable[root.count] == UInt8(ascii: "/") {
                executable.removeFirst(root.count)
            }
            identity.executable = executable
        }
        // Empty: a process that is exiting (or a kernel thread) shows no arguments.
        if let area = readBounded("\(procRoot)/\(pid)/cmdline", limit: Int(BINDSNOOP_ARGS_BYTES) - 1), !area.bytes.isEmpty {
            (identity.arguments, identity.argumentsCut) = ProcessIdentity.split(arguments: area.bytes, cut: area.cut)
        }
        // Checked again: the process may have exited, execed or been replaced while it was read.
        guard let again = ProcStat(path: "\(procRoot)/\(pid)/stat"), again.startTicks == ticks, again.name == name,
              again.state != UInt8(ascii: "Z") else {
            identity.executable = nil
            identity.arguments = nil
            identity.executableDeleted = false
            return identity
        }
        return identity
    }

    private func readLink(_ path: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        return n > 0 ? Array(buffer.prefix(n)) : nil
    }
}

/// The fields of `/proc/PID/stat` bindsnoop reads: the name (between the
/// first `(` and the last `)`: it may hold both), the state, the parent, the start.
struct ProcStat {
    var name: [UInt8]
    var state: UInt8
    var parentPID: UInt32
    var startTicks: UInt64

    init?(path: String) {
        guard let (bytes, _) = readBounded(path, limit: 1024),
              let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), close > open else { return nil }
        name = Array(bytes[(open + 1)..<close])
        // After ") ": field 3 (state) onwards; the parent is field 4, the start field 22.
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count >= 20, let state = fields[fields.startIndex].first, let parent = UInt32(String(decoding: fields[fields.startIndex + 1], as: UTF8.self)),
              let start = UInt64(String(decoding: fields[fields.startIndex + 19], as: UTF8.self)) else { return nil }
        self.state = state
        parentPID = parent
        startTicks = start
    }
}
