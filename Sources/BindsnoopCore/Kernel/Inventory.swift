import CBindsnoop
import Foundation
import Glibc

/// One bound socket as the inventory at start found it: the record of the
/// process chosen as its owner, the socket's inode (its id: what `ss -e`
/// shows as `ino:` and `/proc/PID/fd` as `socket:[N]`), its state, and how
/// many processes hold it.
public struct InventorySocket: Sendable {
    public var record: BindRecord
    public var inode: UInt64
    public var state: UInt8
    /// Distinct processes with a descriptor of it (fork, passed descriptors).
    public var holders: Int

    public var listening: Bool { state == Self.listen }

    static let listen: UInt8 = 10  // TCP_LISTEN
    static let close: UInt8 = 7    // TCP_CLOSE: bound, neither listening nor connected (UDP: unconnected)
}

/// The sockets bound before bindsnoop started: a task_file BPF iterator
/// (`bpf/inventory.bpf.c`, 5.8+) run once, after the tracing programs are
/// live, so that a socket bound meanwhile is in the stream, the inventory,
/// or both, never in neither. Every task on the host, whatever its network
/// namespace (containers included). What counts as bound: TCP listening,
/// TCP bound and neither listening nor connected, UDP (and other datagram
/// protocols) bound and not connected; a connected socket (a client's, an
/// accepted connection) is not in it.
public enum Inventory {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unavailable(stage: String, errno: Int32)

        public var description: String {
            switch self {
            case .unavailable(let stage, let errno):
                return "inventory at start unavailable: \(stage) failed (\(errorName(errno)))"
                    + (errno == EINVAL || errno == ENOENT || errno == EOPNOTSUPP
                        ? ": this kernel has no task_file BPF iterator (Linux 5.8+); bindsnoop reports binds from now on only" : "")
            }
        }
    }

    /// At most this many descriptors are kept (one past it is counted).
    public static let maximumRecords = 1 << 20

    /// Runs the iterator once: every bound socket a holder of which passes
    /// `filter`, one entry each. `tracer`: its table of reported sockets
    /// gets each one listed, for its release (the iterator fills it in the
    /// kernel, while it holds the socket's file: a close meanwhile is
    /// reported as its release); nil: none is kept.
    public static func take(filter: KernelFilter, tracer: BPFTracer?) throws(Failure) -> (sockets: [InventorySocket], descriptorsSkipped: Int) {
        guard let objectBytes = Data(base64Encoded: InventoryBPFObject.base64) else {
            throw .unavailable(stage: "opening the embedded iterator", errno: EINVAL)
        }
        let result = objectBytes.withUnsafeBytes { bytes in
            Result { () throws(Failure) -> ([inventory_socket], Int) in
                guard let object = bindsnoop_open_object(bytes.baseAddress, bytes.count, "inventory") else {
                    throw .unavailable(stage: "opening the iterator", errno: errno)
                }
                defer { bpf_object__close(object) }
                try share(object, with: tracer, filter: filter)
                _ = bindsnoop_libbpf_log_take()
                let loaded = bpf_object__load(object)
                guard loaded == 0 else { throw .unavailable(stage: "loading the iterator", errno: -loaded) }
                guard let program = bpf_object__find_program_by_name(object, "inventory_task_file"),
                      let link = bpf_program__attach_iter(program, nil) else {
                    throw .unavailable(stage: "attaching the iterator", errno: errno)
                }
                defer { bpf_link__destroy(link) }
                let fd = bpf_iter_create(bpf_link__fd(link))
                guard fd >= 0 else { throw .unavailable(stage: "starting the iterator", errno: -fd) }
                defer { close(fd) }
                return try read(fd)
            }
        }
        // Loading parsed the kernel's BTF again (megabytes), freed now: without
        // this, glibc keeps that memory for the life of the process.
        bindsnoop_release_free_memory()
        let (records, skipped) = try result.get()
        return (group(records.filter(isBound), filter: filter), skipped)
    }

    /// Before load: the tracer's maps of reported sockets instead of the
    /// object's own, and the filters the iterator keeps sockets by.
    private static func share(_ object: OpaquePointer, with tracer: BPFTracer?, filter: KernelFilter) throws(Failure) {
        guard let reported = bpf_object__find_map_by_name(object, KernelContract.reportedMap),
              let untracked = bpf_object__find_map_by_name(object, KernelContract.untrackedMap) else {
            throw .unavailable(stage: "finding the iterator's maps", errno: ENOENT)
        }
        if let tracer, tracer.reportsReleases {
            for (map, fd) in [(reported, tracer.reportedMapFD), (untracked, tracer.untrackedMapFD)] where bpf_map__reuse_fd(map, fd) != 0 {
                throw .unavailable(stage: "sharing the table of reported sockets", errno: errno)
            }
        } else if bpf_map__set_max_entries(reported, 1) != 0 {
            throw .unavailable(stage: "sizing the iterator's maps", errno: EINVAL)
        }
        do {
            try BPFTracer.setConfig(filter.kernelConfig, in: object)
        } catch {
            throw .unavailable(stage: "setting the iterator's filters", errno: EINVAL)
        }
    }

    /// Every record the iterator writes, whole.
    private static func read(_ fd: Int32) throws(Failure) -> ([inventory_socket], Int) {
        let size = MemoryLayout<inventory_socket>.size
        var buffer = [UInt8](repeating: 0, count: size * 512)
        var pending: [UInt8] = []
        var records: [inventory_socket] = []
        var skipped = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .unavailable(stage: "reading the iterator", errno: errno)
            }
            if count == 0 { break }
            pending.append(contentsOf: buffer[..<count])
            let whole = pending.count / size * size
            pending.withUnsafeBytes { bytes in
                for offset in stride(from: 0, to: whole, by: size) {
                    if records.count < maximumRecords {
                        records.append(bytes.loadUnaligned(fromByteOffset: offset, as: inventory_socket.self))
                    } else {
                        skipped += 1
                    }
                }
            }
            pending.removeFirst(whole)
        }
        return (records, skipped)
    }

    /// A socket a server bound, not one a client connected.
    static func isBound(_ record: inventory_socket) -> Bool {
        if record.event.sock_type == 1 {  // SOCK_STREAM, as a number like SocketNames (the name, in a static build, hid SOCK_* from other files)
            return record.state == InventorySocket.listen || record.state == InventorySocket.close
        }
        return record.state == InventorySocket.close
    }

    /// One entry per socket inode a holder of which passes `filter`. Its
    /// owner is the passing holder that started first (the process that made
    /// it, before the ones it forked or passed it to), the lowest pid where
    /// two started in the same tick: the kernel's rule too
    /// (`bpf/inventory.bpf.c`), which keeps the same owner for the release.
    static func group(_ records: [inventory_socket], filter: KernelFilter = KernelFilter()) -> [InventorySocket] {
        var bySocket: [UInt64: (owner: inventory_socket?, pids: Set<UInt32>)] = [:]
        var order: [UInt64] = []
        for record in records {
            let inode = record.event.socket_inode
            var entry = bySocket[inode] ?? {
                order.append(inode)
                return (nil, [])
            }()
            entry.pids.insert(record.event.pid)
            if passes(record.event, filter: filter) {
                if let owner = entry.owner?.event, (owner.start_ns, owner.pid) <= (record.event.start_ns, record.event.pid) {
                } else {
                    entry.owner = record
                }
            }
            bySocket[inode] = entry
        }
        return order.compactMap { inode in
            bySocket[inode].flatMap { entry in
                entry.owner.map { owner in
                    InventorySocket(record: BindRecord(raw: owner.event), inode: inode, state: owner.state, holders: entry.pids.count)
                }
            }
        }
    }

    /// What the tracing filters let through (`--pid`, `--uid`, `--port`), by one holder.
    static func passes(_ e: bind_event, filter: KernelFilter) -> Bool {
        if let pid = filter.pid, e.pid != pid { return false }
        if let uid = filter.uid, e.uid != uid { return false }
        if !filter.ports.isEmpty, !filter.ports.contains(e.bound_port) { return false }
        return filter.outcome != .failure
    }

    /// The same for a socket's owner.
    public static func passes(_ socket: InventorySocket, filter: KernelFilter) -> Bool {
        passes(socket.record.raw, filter: filter)
    }
}
