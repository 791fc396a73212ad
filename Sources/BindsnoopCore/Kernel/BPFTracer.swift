import CBindsnoop
import Foundation
import Logging

/// The kernel program of one attach mode, loaded and attached. Owns the BPF
/// object and its links; closing it detaches everything.
public final class BPFTracer {
    public let mode: ProbeMode
    /// The kernel programs attached (which variant of the mode this kernel got).
    public let programs: [String]
    private let object: OpaquePointer
    private var links: [OpaquePointer]
    /// The `lost` array map, mapped read-only (BPF_F_MMAPABLE).
    private let lostCounter: UnsafeMutableRawPointer
    /// The `untracked` array map (reported sockets that will have no release line), mapped read-only.
    private let untrackedCounter: UnsafeMutableRawPointer
    /// The `reported` map (sockets reported and not released), which the inventory fills too.
    public let reportedMapFD: Int32
    /// The `untracked` map's descriptor, which the inventory shares.
    public let untrackedMapFD: Int32
    /// The release hook is attached: every reported socket's release is reported.
    public var reportsReleases: Bool { programs.contains(KernelContract.releaseProgram) }
    /// The BPF_MAP_TYPE_RINGBUF map to read events from.
    public let ringBufferMapFD: Int32
    /// The cgroup hooks' table of unclaimed requests, where they run.
    private let requestedMapFD: Int32?
    /// Seconds from attaching until every program had seen a bind (`SelfCheck`).
    public private(set) var secondsToLive = 0.0
    /// The `self_checks` array map, mapped read-write (BPF_F_MMAPABLE).
    private let selfChecks: UnsafeMutableRawPointer
    /// The ring buffer's consumer and producer pages, mapped read-only.
    private let ringPositions: (consumer: UnsafeMutableRawPointer, producer: UnsafeMutableRawPointer)
    /// Each attached program and its descriptor, for its run statistics.
    public let programDescriptors: [(name: String, fd: Int32)]

    private init(mode: ProbeMode, programs: [String], object: OpaquePointer, links: [OpaquePointer]) throws(TracerError) {
        self.mode = mode
        self.programs = programs
        self.object = object
        self.links = links
        ringBufferMapFD = bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.eventsMap))
        reportedMapFD = bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.reportedMap))
        untrackedMapFD = bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.untrackedMap))
        requestedMapFD = programs.contains(KernelContract.cgroupHookPrograms[0])
            ? bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.requestedMap)) : nil
        programDescriptors = programs.map { ($0, bpf_program__fd(bpf_object__find_program_by_name(object, $0))) }
        func map(_ fd: Int32, offset: Int, writable: Bool, _ what: String) throws(TracerError) -> UnsafeMutableRawPointer {
            let mapped = mmap(nil, Int(getpagesize()), PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, off_t(offset))
            guard let mapped, mapped != MAP_FAILED else { throw .modeFailed(mode, stage: "mapping \(what)", errno: errno) }
            return mapped
        }
        lostCounter = try map(bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.lostMap)), offset: 0,
                              writable: false, "the loss counter")
        untrackedCounter = try map(untrackedMapFD, offset: 0,
                                   writable: false, "the untracked-socket counter")
        selfChecks = try map(bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.selfChecksMap)), offset: 0,
                             writable: true, "the self-check slots")
        ringPositions = (try map(ringBufferMapFD, offset: 0, writable: false, "the ring buffer's consumer page"),
                         try map(ringBufferMapFD, offset: Int(getpagesize()), writable: false, "the ring buffer's producer page"))
    }

    deinit {
        for page in [lostCounter, untrackedCounter, selfChecks, ringPositions.consumer, ringPositions.producer] { munmap(page, Int(getpagesize())) }
        for link in links { bpf_link__destroy(link) }
        bpf_object__close(object)
    }

    /// The kernel wakes a reader that has caught up at most this often
    /// (seconds); the reader polls at this interval while events flow, so
    /// this is also the most an event waits in the ring buffer.
    public static let wakeupInterval = 0.01

    /// 0: libbpf silent; 1: its warnings; 2: its debug output and verifier logs.
    public static func setLibbpfVerbosity(_ level: Int) {
        bindsnoop_set_libbpf_verbosity(Int32(min(level, 2)))
    }

    /// Tries the selected modes in order and returns the first that loads and
    /// attaches; the error of each mode tried otherwise.
    /// `releaseSockets`: the most reported sockets remembered for their
    /// release (nil: no release hook). Where the kernel cannot run the
    /// release hook, the mode without it, with one warning.
    /// `overrides`: the tests' choices of program variant and read strategy.
    public static func start(selection: ProbeSelection, filter: KernelFilter, ringBufferBytes: UInt32,
                             releaseSockets: UInt32? = nil, overrides: ProgramOverrides = ProgramOverrides(),
                             logger: Logger) throws(TracerError) -> BPFTracer {
        guard Privileges.canLoadBPF() else { throw .notPrivileged }
        if let refused = Privileges.bpfCallRefused(), refused == EPERM || refused == EACCES {
            throw .bpfRefused(errno: refused, seccomp: Privileges.seccompFiltered())
        }
        guard let objectBytes = Data(base64Encoded: BindsnoopBPFObject.base64) else {
            throw .objectRejected(errno: EINVAL)
        }
        var release = releaseSockets
        if release != nil, CgroupMount.path() == nil {
            logger.warning("no release lines: no cgroup v2 hierarchy is mounted (the release hook attaches at its root); bind and inventory lines are not affected")
            release = nil
        }
        var failures: [TracerError] = []
        for mode in selection.candidates {
            do {
                let tracer: BPFTracer
                do {
                    tracer = try attemptWithCgroupHooks(mode: mode, filter: filter, ringBufferBytes: ringBufferBytes, release: release,
                                                        overrides: overrides, objectBytes: objectBytes, logger: logger)
                } catch where release != nil && error.names(any: [KernelContract.releaseProgram]) {
                    logger.warning("no release lines: this kernel refused the release hook (cgroup/sock_release at the cgroup v2 root, Linux 5.9+); bind and inventory lines are not affected",
                                   metadata: ["reason": "\(error)"])
                    release = nil
                    tracer = try attemptWithCgroupHooks(mode: mode, filter: filter, ringBufferBytes: ringBufferBytes, release: nil,
                                                        overrides: overrides, objectBytes: objectBytes, logger: logger)
                }
                // Loading parsed the kernel's BTF (megabytes) and freed it;
                // without this, glibc keeps that memory for good.
                bindsnoop_release_free_memory()
                return tracer
            } catch {
                logger.debug("attach mode unavailable", metadata: ["mode": "\(mode.rawValue)", "reason": "\(error)"])
                if case .notPrivileged = error { throw error }
                if case .bpfRefused = error { throw error }
                if case .cgroup = error { throw error }
                failures.append(error)
            }
        }
        if failures.count == 1 { throw failures[0] }
        throw .noModeAttached(failures)
    }

    /// The tracepoint mode never sees binds that skip the bind(2) system
    /// call (io_uring, 32-bit programs): where the kernel lets cgroup
    /// programs read the saved registers, the cgroup hooks run beside it for
    /// those. If they cannot attach, the tracepoint alone, with a warning.
    private static func attemptWithCgroupHooks(mode: ProbeMode, filter: KernelFilter, ringBufferBytes: UInt32, release: UInt32?,
                                               overrides: ProgramOverrides, objectBytes: Data, logger: Logger) throws(TracerError) -> BPFTracer {
        guard mode == .tracepoint else {
            return try attempt(mode: mode, filter: filter, ringBufferBytes: ringBufferBytes, release: release, overrides: overrides,
                               cgroupHooks: false, objectBytes: objectBytes)
        }
        guard libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_task_pt_regs, nil) == 1 else {
            let tracer = try attempt(mode: mode, filter: filter, ringBufferBytes: ringBufferBytes, release: release, overrides: overrides,
                                     cgroupHooks: false, objectBytes: objectBytes)
            logger.warning("tracepoint mode without the cgroup hooks: io_uring and 32-bit binds will not be seen",
                           metadata: ["reason": "this kernel's cgroup programs cannot call bpf_task_pt_regs"])
            return tracer
        }
        do {
            return try attempt(mode: mode, filter: filter, ringBufferBytes: ringBufferBytes, release: release, overrides: overrides,
                               cgroupHooks: true, objectBytes: objectBytes)
        } catch {
            // Not a mode failure (a bad --cgroup), or the tracepoint's own
            // program (or the release hook, which the caller leaves out)
            // refused: without the cgroup hooks it fares no better.
            guard case .modeFailed = error,
                  !error.names(any: programNames(for: mode, overrides: overrides) + [KernelContract.releaseProgram]) else { throw error }
            logger.warning("tracepoint mode without the cgroup hooks: io_uring and 32-bit binds will not be seen",
                           metadata: ["reason": "\(error)"])
            return try attempt(mode: mode, filter: filter, ringBufferBytes: ringBufferBytes, release: release, overrides: overrides,
                               cgroupHooks: false, objectBytes: objectBytes)
        }
    }

    private static func attempt(mode: ProbeMode, filter: KernelFilter, ringBufferBytes: UInt32, release: UInt32?,
                                overrides: ProgramOverrides, cgroupHooks: Bool, objectBytes: Data) throws(TracerError) -> BPFTracer {
        if mode == .tracepoint { try Tracefs.ensureMounted() }
        let cgroupPrograms = KernelContract.cgroupHookPrograms
        let atCgroupRoot = cgroupPrograms + [KernelContract.releaseProgram]
        // the probe loads a program: once
        let programs = programNames(for: mode, overrides: overrides) + (cgroupHooks ? cgroupPrograms : [])
            + (release != nil ? [KernelContract.releaseProgram] : [])
        // libbpf keeps pointers into the object bytes until load returns.
        let opened: Result<OpaquePointer, TracerError> = objectBytes.withUnsafeBytes { bytes in
            guard let object = bindsnoop_open_object(bytes.baseAddress, bytes.count, "bindsnoop") else {
                return .failure(.objectRejected(errno: errno))
            }
            do throws(TracerError) {
                try configure(object, mode: mode, programs: programs, filter: filter, ringBufferBytes: ringBufferBytes,
                              reportedSockets: release ?? 1, fieldByField: overrides.fieldByField,
                              cgroupSkipsBindSyscall: mode != .cgroup && cgroupHooks)
                _ = bindsnoop_libbpf_log_take()
                let err = bpf_object__load(object)
                if err != 0 {
                    throw .modeFailed(mode, stage: "loading", errno: -err,
                                      reason: explain(mode, objectBytes: objectBytes))
                }
                return .success(object)
            } catch {
                bpf_object__close(object)
                return .failure(error)
            }
        }
        let object = try opened.get()
        var links: [OpaquePointer] = []
        let tracer: BPFTracer
        do throws(TracerError) {
            try fillCgroupFilter(object, path: filter.cgroupPath)
            let root = programs.contains(where: atCgroupRoot.contains) ? try openCgroupRoot(mode) : -1
            defer { if root >= 0 { close(root) } }
            for name in programs {
                let atRoot = atCgroupRoot.contains(name)
                _ = bindsnoop_libbpf_log_take()
                guard let program = bpf_object__find_program_by_name(object, name),
                      let link = atRoot ? bpf_program__attach_cgroup(program, root) : bpf_program__attach(program) else {
                    let code = errno == 0 ? ENOENT : errno
                    throw .modeFailed(mode, stage: "attaching \(name)", errno: code,
                                      reason: explain(mode, objectBytes: objectBytes))
                }
                links.append(link)
            }
            tracer = try BPFTracer(mode: mode, programs: programs, object: object, links: links)
        } catch {
            for link in links { bpf_link__destroy(link) }
            bpf_object__close(object)
            throw error
        }
        // If it throws, the tracer detaches everything as it goes.
        guard let whoami = bpf_object__find_program_by_name(object, KernelContract.whoamiProgram),
              bindsnoop_test_run(bpf_program__fd(whoami)) == 0 else {
            throw .modeFailed(mode, stage: "running whoami (BPF_PROG_TEST_RUN)", errno: errno)
        }
        tracer.secondsToLive = try SelfCheck.awaitLive(mode: mode, programs: programs, seen: tracer.selfChecks)
        return tracer
    }

    /// Why the kernel refused the mode, right after libbpf failed: what the
    /// kernel lacks where that is checked (the kprobe PMU; a minimal fexit
    /// program, loaded alone), else the verifier's or libbpf's own words.
    private static func explain(_ mode: ProbeMode, objectBytes: Data) -> String? {
        let failure = LoadFailure(libbpfLog: String(cString: bindsnoop_libbpf_log_take()))
        switch mode {
        case .kprobe where !Tracefs.hasKprobes:
            return "this kernel has no kprobes (no kprobe event source in /sys/bus/event_source/devices or tracefs); use --probe tracepoint"
        case .fentry:
            if let refused = minimalFexitRefused(objectBytes: objectBytes) {
                return "this kernel refuses BPF trampolines (a minimal fexit program is refused too: \(errorName(refused))); use --probe kprobe or --probe tracepoint"
            }
        default:
            break
        }
        return failure.map { "\($0.description); -v prints libbpf's and the verifier's log" }
    }

    /// The errno of loading and attaching the smallest fexit program alone;
    /// nil if the kernel takes it.
    private static func minimalFexitRefused(objectBytes: Data) -> Int32? {
        objectBytes.withUnsafeBytes { bytes -> Int32? in
            guard let object = bindsnoop_open_object(bytes.baseAddress, bytes.count, "bindsnoop") else { return errno }
            defer { bpf_object__close(object) }
            var program = bpf_object__next_program(object, nil)
            while let current = program {
                bpf_program__set_autoload(current, String(cString: bpf_program__name(current)) == KernelContract.minimalFexitProgram)
                program = bpf_object__next_program(object, current)
            }
            let err = bpf_object__load(object)
            if err != 0 { return -err }
            guard let minimal = bpf_object__find_program_by_name(object, KernelContract.minimalFexitProgram),
                  let link = bpf_program__attach(minimal) else { return errno == 0 ? ENOENT : errno }
            bpf_link__destroy(link)
            return nil
        }
    }

    /// The programs of a mode on this kernel (the tracepoint mode's best variant).
    static func programNames(for mode: ProbeMode, overrides: ProgramOverrides) -> [String] {
        mode == .tracepoint ? (overrides.tracepointVariant ?? TracepointVariant.best()).programs : mode.programSets[0]
    }

    /// Before load: only `programs`, the filters, the ring size.
    private static func configure(_ object: OpaquePointer, mode: ProbeMode, programs: [String], filter: KernelFilter,
                                  ringBufferBytes: UInt32, reportedSockets: UInt32, fieldByField: Bool,
                                  cgroupSkipsBindSyscall: Bool) throws(TracerError) {
        let wanted = Set(programs + [KernelContract.whoamiProgram])
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            bpf_program__set_autoload(current, wanted.contains(String(cString: bpf_program__name(current))))
            program = bpf_object__next_program(object, current)
        }
        guard let events = bpf_object__find_map_by_name(object, KernelContract.eventsMap),
              bpf_map__set_max_entries(events, ringBufferBytes) == 0 else {
            throw .modeFailed(mode, stage: "sizing the ring buffer", errno: EINVAL)
        }
        guard let reported = bpf_object__find_map_by_name(object, KernelContract.reportedMap),
              bpf_map__set_max_entries(reported, reportedSockets) == 0 else {
            throw .modeFailed(mode, stage: "sizing the table of reported sockets", errno: EINVAL)
        }
        var config = filter.kernelConfig
        config.wakeup_interval_ns = UInt64(wakeupInterval * 1e9)
        config.wakeup_bytes = UInt64(ringBufferBytes / 8)
        config.cgroup_skips_bind_syscall = cgroupSkipsBindSyscall ? 1 : 0
        config.field_by_field = fieldByField ? 1 : 0
        if wanted.contains(KernelContract.cgroupHookPrograms[0]) || wanted.contains(KernelContract.releaseProgram) {
            config.cgroup_direct = bindsnoop_kernel_has_function("bpf_rdonly_cast") != 0 ? 1 : 0
        }
        try setConfig(config, in: object)
    }

    /// Writes `config` into the object's `.rodata` before load (the
    /// variable's place read from the object's BTF; other read-only
    /// variables kept as compiled).
    static func setConfig(_ config: bindsnoop_config, in object: OpaquePointer) throws(TracerError) {
        guard let rodata = bpf_object__find_map_by_name(object, KernelContract.rodataSection),
              let offset = KernelContract.configOffset(in: object) else {
            throw .objectRejected(errno: ENOENT)
        }
        var size = 0
        guard let current = bpf_map__initial_value(rodata, &size), size >= offset + MemoryLayout<bindsnoop_config>.size else {
            throw .objectRejected(errno: EINVAL)
        }
        var initial = Array(UnsafeRawBufferPointer(start: current, count: size))
        initial.withUnsafeMutableBytes { $0.storeBytes(of: config, toByteOffset: offset, as: bindsnoop_config.self) }
        guard bpf_map__set_initial_value(rodata, initial, size) == 0 else {
            throw .objectRejected(errno: EINVAL)
        }
    }

    /// cgroup mode attaches at the root of the cgroup v2 hierarchy (every
    /// socket's cgroup descends from it; programs attached lower with
    /// BPF_F_ALLOW_OVERRIDE would hide theirs from it).
    private static func openCgroupRoot(_ mode: ProbeMode) throws(TracerError) -> Int32 {
        guard let mount = CgroupMount.path() else {
            throw .modeFailed(mode, stage: "finding the cgroup v2 hierarchy", errno: ENOENT)
        }
        let fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .modeFailed(mode, stage: "opening \(mount)", errno: errno) }
        return fd
    }

    private static func fillCgroupFilter(_ object: OpaquePointer, path: String?) throws(TracerError) {
        guard let path else { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .cgroup(path: path, errno: errno) }
        defer { close(fd) }
        var key: UInt32 = 0
        var value = UInt32(fd)
        let map = bpf_map__fd(bpf_object__find_map_by_name(object, KernelContract.cgroupFilterMap))
        guard bpf_map_update_elem(map, &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw .cgroup(path: path, errno: errno)
        }
    }

    /// The cgroup hooks (cgroup mode, or beside the tracepoint): the binds no post-bind hook claimed within `age` seconds
    /// of their request (they failed), removed from the kernel's table and
    /// handed to `body` as records. Other modes: nothing. False when the
    /// table cannot be read: kernels before 6.5 refuse bpf(2) map calls once
    /// bindsnoop has dropped its privileges (`--user`).
    public func takeUnclaimedRequests(olderThan age: Double, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard let fd = requestedMapFD else { return true }
        let cutoff = bootNanoseconds() - UInt64(age * 1e9)
        var key: UInt64 = 0
        var next: UInt64 = 0
        var record = bind_event()
        var expired: [(cookie: UInt64, record: bind_event)] = []
        var hasKey = false
        while withUnsafeMutablePointer(to: &key, { current in
            bpf_map_get_next_key(fd, hasKey ? current : nil, &next)
        }) == 0 {
            hasKey = true
            key = next
            if bpf_map_lookup_elem(fd, &key, &record) == 0 && record.boot_ns < cutoff { expired.append((key, record)) }
        }
        if errno == EPERM || errno == EACCES { return false }
        for var entry in expired {
            // Deleted first: a post-bind hook that claims it meanwhile finds nothing.
            guard bpf_map_delete_elem(fd, &entry.cookie) == 0,
                  entry.record.ret != Int32(BINDSNOOP_RET_NOT_BOUND_UNWANTED.rawValue) else { continue }
            withUnsafeBytes(of: &entry.record) { body($0) }
        }
        return true
    }

    /// Events the kernel could not deliver since load.
    public func lostEvents() -> UInt64 {
        bindsnoop_read_u64(lostCounter)
    }

    /// Reported sockets the table of reported sockets had no room for since
    /// load: their release will not be reported.
    public func untrackedSockets() -> UInt64 {
        bindsnoop_read_u64(untrackedCounter)
    }

    /// Bytes in the ring buffer not yet read.
    public func ringBufferUnread() -> UInt64 {
        bindsnoop_ring_unread(ringPositions.consumer, ringPositions.producer)
    }

    /// The self-check again (on the thread that started the tracer): the
    /// programs that did not see bindsnoop's own binds; empty when all did.
    public func recheckLive() -> [String] {
        SelfCheck.recheck(programs: programs, seen: selfChecks)
    }
}
