import Foundation
import CBindsnoop
import Testing
@testable import BindsnoopCore

@Suite struct ProcessIdentityRecordTests {
    /// A record as the kernel writes it: components leaf first, the argument area with a NUL after each.
    static func record(components: [String], arguments: [String], flags: UInt32 = 0, pid: UInt32 = 4242) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: MemoryLayout<process_identity>.size)
        func put(_ data: [UInt8], at path: PartialKeyPath<process_identity>) {
            let offset = MemoryLayout<process_identity>.offset(of: path)!
            bytes.replaceSubrange(offset..<(offset + data.count), with: data)
        }
        func put<T: FixedWidthInteger>(_ value: T, at path: PartialKeyPath<process_identity>) {
            put(withUnsafeBytes(of: value.littleEndian) { Array($0) }, at: path)
        }
        put(pid, at: \process_identity.pid)
        put(UInt64(5_000_000_000), at: \process_identity.start_ns)
        put(UInt32(1), at: \process_identity.parent_pid)
        put(UInt64(20_000_000), at: \process_identity.parent_start_ns)
        put(flags, at: \process_identity.flags)
        var names: [UInt8] = []
        var lengths: [UInt8] = []
        for component in components.reversed() {
            names += Array(component.utf8) + [0]
            lengths += [UInt8(component.utf8.count & 0xFF), UInt8(component.utf8.count >> 8)]
        }
        put(names, at: \process_identity.path_names)
        put(lengths, at: \process_identity.name_len)
        put(UInt16(components.count), at: \process_identity.path_depth)
        put(UInt16(names.count), at: \process_identity.path_bytes)
        let area: [UInt8] = arguments.reduce(into: []) { $0 += Array($1.utf8) + [0] }
        put(area, at: \process_identity.args)
        put(UInt16(area.count), at: \process_identity.args_len)
        put(Array("bash".utf8), at: \process_identity.parent_comm)
        return bytes
    }

    @Test func decodesPathArgumentsAndParent() throws {
        let bytes = Self.record(components: ["usr", "bin", "python3.11"], arguments: ["python3", "-c", ""])
        let identity = try #require(bytes.withUnsafeBytes { ProcessIdentity(record: $0, ticksPerSecond: 100) })
        #expect(identity.executable.map { String(decoding: $0, as: UTF8.self) } == "/usr/bin/python3.11")
        #expect(identity.arguments?.map { String(decoding: $0, as: UTF8.self) } == ["python3", "-c", ""])
        #expect(identity.startTicks == 500)
        #expect(identity.parentStartTicks == 2)
        #expect(identity.parentName == Array("bash".utf8))
        #expect(!identity.executableCut && !identity.argumentsCut && !identity.executableDeleted)
    }
}

/// The cache by pid, the entity id's recipe, and `/proc` read late, against a
/// `/proc`-shaped directory of the test's own.
@Suite struct ProcessIdentitiesTests {
    static let host = HostMetadata(name: "h", machineID: "0123456789abcdef0123456789abcdef",
                                   bootID: "3b1f1c2e-0000-4000-8000-000000000001", kernelRelease: "6.18", architecture: "x86_64")
    static let clock = WallClock(offsetNanoseconds: 1_767_225_600_000_000_000)

    /// A process 4242 named `name`, started at tick `ticks`, running `exe` in `root`, child of 1.
    static func proc(name: String = "nginx", state: String = "S", ticks: UInt64 = 500, exe: String = "/usr/sbin/nginx",
                     root: String = "/", cmdline: [UInt8] = Array("nginx\0-g\0daemon off;\0".utf8)) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appending(path: "proc-\(UUID().uuidString)").path
        for (pid, name, ticks) in [(4242, name, ticks), (1, "systemd", UInt64(2))] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(pid)", withIntermediateDirectories: true)
            let fields = (3...52).map { $0 == 3 ? state : $0 == 4 ? "1" : $0 == 22 ? "\(ticks)" : "0" }
            try "\(pid) (\(name)) \(fields.joined(separator: " "))\n".write(toFile: "\(dir)/\(pid)/stat", atomically: true, encoding: .utf8)
        }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/4242/exe", withDestinationPath: exe)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/4242/root", withDestinationPath: root)
        try Data(cmdline).write(to: URL(fileURLWithPath: "\(dir)/4242/cmdline"))
        return dir
    }

    static func fragments(_ identities: inout ProcessIdentities, name: String = "nginx", ticks: UInt64 = 500) -> (String, String, String) {
        let f = Array(name.utf8).withUnsafeBytes { identities.fragments(pid: 4242, startNanoseconds: ticks * 10_000_000, execID: 0, name: $0) }
        return (String(decoding: f.process, as: UTF8.self), String(decoding: f.parent, as: UTF8.self), String(decoding: f.bind, as: UTF8.self))
    }

    @Test func entityIDFollowsTheRecipe() {
        // python3 -c "import hashlib; print(hashlib.sha256(b'<machine>:<boot>:4242:500').hexdigest()[:32])"
        #expect(ProcessIdentities(host: Self.host).entityID(pid: 4242, startTicks: 500) == "368e8287b33c8e80a6afd67af1aa5892")
    }

    @Test func kernelRecordIsUsedForItsOwnProcessOnly() throws {
        var identities = ProcessIdentities(host: Self.host, procRoot: "/nonexistent", clock: Self.clock)
        let record = ProcessIdentityRecordTests.record(components: ["usr", "sbin", "nginx"], arguments: ["nginx"])
        #expect(record.withUnsafeBytes { identities.store(record: $0) })
        let (process, parent, bind) = Self.fragments(&identities)
        #expect(process == #","executable":"/usr/sbin/nginx","args":["nginx"],"args_count":1,"start":"2026-01-01T00:00:05.000000000Z","entity_id":"368e8287b33c8e80a6afd67af1aa5892""#)
        #expect(parent.hasPrefix(#","name":"bash","entity_id":""#))
        #expect(bind == #","identity":{"source":"kernel"}"#)
        // The same pid, another start: not this record's process.
        let (other, _, otherBind) = Self.fragments(&identities, ticks: 900)
        #expect(!other.contains("executable") && otherBind == #","identity":{"source":"none"}"#)
    }

    /// An exec sends a new record for the same pid and start: a bind of the
    /// exec before (cgroup mode's failed binds come a second later) keeps its program.
    @Test func eachExecKeepsItsOwnProgram() {
        var identities = ProcessIdentities(host: Self.host, procRoot: "/nonexistent", clock: Self.clock)
        for (exec, program) in [(UInt32(1), "python3"), (2, "nginx")] {
            var record = ProcessIdentityRecordTests.record(components: ["usr", "bin", program], arguments: [program])
            let at = MemoryLayout<process_identity>.offset(of: \process_identity.exec_id)!
            record.replaceSubrange(at..<(at + 4), with: withUnsafeBytes(of: exec.littleEndian) { Array($0) })
            #expect(record.withUnsafeBytes { identities.store(record: $0) })
        }
        func program(_ exec: UInt32) -> String {
            let f = Array("x".utf8).withUnsafeBytes { identities.fragments(pid: 4242, startNanoseconds: 5_000_000_000, execID: exec, name: $0) }
            return String(decoding: f.process, as: UTF8.self)
        }
        #expect(program(2).hasPrefix(#","executable":"/usr/bin/nginx""#))
        #expect(program(1).hasPrefix(#","executable":"/usr/bin/python3""#))
        #expect(!program(3).contains("executable"), "an exec never described is not guessed")
    }

    /// A process that has exited is forgotten at the second sweep after it
    /// was stored (never sooner: a late bind record still finds it); a live one stays.
    @Test func exitedProcessesAreForgotten() {
        var identities = ProcessIdentities(host: Self.host, procRoot: "/nonexistent", clock: Self.clock)
        let live = UInt32(getpid()), gone = UInt32(2_147_483_000)  // above any pid_max: kill(2) says ESRCH
        for pid in [live, gone] {
            let record = ProcessIdentityRecordTests.record(components: ["bin", "server"], arguments: ["server"], pid: pid)
            #expect(record.withUnsafeBytes { identities.store(record: $0) })
        }
        let start = monotonicSeconds()
        #expect(identities.forgetExited(now: start + 1) == 0, "not due yet")
        #expect(identities.forgetExited(now: start + ProcessIdentities.exitedSweepInterval) == 0, "stored since the last sweep")
        #expect(identities.count == 2)
        #expect(identities.forgetExited(now: start + 2 * ProcessIdentities.exitedSweepInterval) == 1)
        #expect(identities.count == 1)
        let kept = Array("server".utf8).withUnsafeBytes {
            identities.fragments(pid: live, startNanoseconds: 5_000_000_000, execID: 0, name: $0)
        }
        #expect(String(decoding: kept.process, as: UTF8.self).hasPrefix(#","executable":"/bin/server""#))
    }

    @Test func procIsReadLateForTheSameProcessOnly() throws {
        let dir = try Self.proc(exe: "/var/lib/c1/merged/bin/busybox (deleted)", root: "/var/lib/c1/merged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var identities = ProcessIdentities(host: Self.host, procRoot: dir, clock: Self.clock)
        let (process, parent, bind) = Self.fragments(&identities)
        #expect(process.hasPrefix(#","executable":"/bin/busybox","args":["nginx","-g","daemon off;"],"args_count":3,"#), "\(process)")
        #expect(parent.hasPrefix(#","name":"systemd","entity_id":""#))
        #expect(bind == #","identity":{"source":"proc","executable_deleted":true}"#)
        #expect(identities.readLate == 1)
        // Cached: /proc is not read again for it.
        try FileManager.default.removeItem(atPath: dir)
        #expect(Self.fragments(&identities).0 == process)
        #expect(identities.readLate == 1)
    }

    @Test func procGivesNoProgramAfterAnExecOrExitOrReuse() throws {
        for (name, state, ticks) in [("python3", "S", UInt64(500)), ("nginx", "Z", 500), ("nginx", "S", 501)] {
            let dir = try Self.proc(name: name, state: state, ticks: ticks)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var identities = ProcessIdentities(host: Self.host, procRoot: dir, clock: Self.clock)
            let (process, _, bind) = Self.fragments(&identities)
            #expect(!process.contains("executable") && !process.contains("args"), "\(name) \(state) \(ticks): \(process)")
            #expect(process.contains(#""entity_id":"368e8287b33c8e80a6afd67af1aa5892""#))
            #expect(bind.contains(name == "python3" ? #""proc""# : #""none""#), "\(bind)")
        }
    }

    @Test func cacheIsBoundedByEntriesAndBytes() {
        var identities = ProcessIdentities(host: Self.host, procRoot: "/nonexistent", capacity: 4, byteBudget: 1 << 20)
        for pid in 1...10 {
            let record = ProcessIdentityRecordTests.record(components: ["bin", "x"], arguments: ["x"], pid: UInt32(pid))
            _ = record.withUnsafeBytes { identities.store(record: $0) }
        }
        #expect(identities.count == 4)
        var small = ProcessIdentities(host: Self.host, procRoot: "/nonexistent", capacity: 100, byteBudget: 2000)
        for pid in 1...50 {
            let record = ProcessIdentityRecordTests.record(components: ["bin", "x"], arguments: [String(repeating: "a", count: 300)],
                                                           pid: UInt32(pid))
            _ = record.withUnsafeBytes { small.store(record: $0) }
        }
        #expect(small.byteCount <= 2000 && small.count >= 1 && small.count < 50, "\(small.count) entries, \(small.byteCount) bytes")
    }

    @Test func argumentsAreBoundedAndCutOnesMarked() {
        let many = Array(repeating: Array("a\0".utf8), count: 200).flatMap { $0 }
        let (kept, cut) = ProcessIdentity.split(arguments: many, cut: false)
        #expect(kept.count == ProcessIdentity.maximumArguments && cut)
        let (partial, partialCut) = ProcessIdentity.split(arguments: Array("one\0tw".utf8), cut: true)
        #expect(partial == [Array("one".utf8), Array("tw".utf8)] && partialCut)
    }
}

/// user.name and group.name from a root's own files, read as the process would resolve them.
@Suite struct UserNamesTests {
    @Test func kernelDeviceNumbersAreStatsOwn() {
        // MKDEV(8, 1) and MKDEV(0, 0x123) (an overlay's anonymous device), as stat(2) encodes them.
        #expect(RootKey(kernelDevice: 8 << 20 | 1, inode: 2).device == 0x801)
        #expect(RootKey(kernelDevice: 0x123, inode: 2).device == 0x10_0023)  // python3: hex(os.makedev(0, 0x123))
    }

    @Test func glibcParsesTheFilesFirstEntryWins() {
        let passwd = Array("# comment\nroot:x:0:0::/:/bin/sh\n+nis::::::\nbinder:x:4242:4343::/:/bin/sh\nsecond:x:4242:1::/:/bin/sh\nq\"t:x:7:7::/:\n".utf8)
        let users = UserNames.names(in: passwd, users: true)
        #expect(users[0] == Array("\"root\"".utf8))
        #expect(users[4242] == Array("\"binder\"".utf8))
        #expect(users[7] == Array(#""q\"t""#.utf8))
        #expect(users.count == 3)
        let groups = UserNames.names(in: Array("binders:x:4343:\n".utf8), users: false)
        #expect(groups[4343] == Array("\"binders\"".utf8))
    }

    /// A process 4242 whose root is a directory of the test's own, in the
    /// host's user namespace or not; its parent 1 in another root.
    @Test func namesComeFromTheProcesssOwnRootOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "users-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = "\(dir)/rootfs", other = "\(dir)/other"
        for path in ["\(root)/etc", "\(other)/etc", "\(dir)/proc/4242", "\(dir)/proc/1"] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        try "binder:x:4242:4343::/:/bin/sh\n".write(toFile: "\(root)/etc/passwd", atomically: true, encoding: .utf8)
        // An absolute symlink resolves inside the root, not on the host.
        try FileManager.default.createSymbolicLink(atPath: "\(root)/etc/group", withDestinationPath: "/etc/real-group")
        try "binders:x:4343:\n".write(toFile: "\(root)/etc/real-group", atomically: true, encoding: .utf8)
        try "intruder:x:4242:4343::/:/bin/sh\n".write(toFile: "\(other)/etc/passwd", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/proc/4242/root", withDestinationPath: root)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/proc/1/root", withDestinationPath: other)
        for pid in [4242, 1] {
            for map in ["uid_map", "gid_map"] {
                try "         0          0 4294967295\n".write(toFile: "\(dir)/proc/\(pid)/\(map)", atomically: true, encoding: .utf8)
            }
        }
        var status = stat()
        #expect(stat(root, &status) == 0)
        let key = RootKey(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))

        let names = UserNames(procRoot: "\(dir)/proc")
        #expect(names.use(key, pid: 4242, parentPID: 1))
        names.waitForReads()
        let found = names.names(root: key, uid: 4242, gid: 4343)
        #expect(found.user == Array("\"binder\"".utf8))
        #expect(found.group == Array("\"binders\"".utf8))
        #expect(names.generation == 1)

        // The process gone, its parent in another root: not named from the parent's files.
        let orphan = UserNames(procRoot: "\(dir)/proc")
        try FileManager.default.removeItem(atPath: "\(dir)/proc/4242/root")
        _ = orphan.use(key, pid: 4242, parentPID: 1)
        orphan.waitForReads()
        let orphaned = orphan.names(root: key, uid: 4242, gid: 4343)
        #expect(orphaned.user == nil && orphaned.group == nil)

        // A user namespace of its own: no names, whatever its files say.
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/proc/4242/root", withDestinationPath: root)
        try "0 100000 65536\n".write(toFile: "\(dir)/proc/4242/uid_map", atomically: true, encoding: .utf8)
        let mapped = UserNames(procRoot: "\(dir)/proc")
        #expect(!mapped.use(key, pid: 4242, parentPID: 0))

        // Neither the process nor its parent there: nothing to read, nothing known.
        #expect(!UserNames(procRoot: "\(dir)/proc").use(key, pid: 4343, parentPID: 4344))
    }
}
