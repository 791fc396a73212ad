import CBindsnoop
import Glibc

/// Who a process is, as plain values: from the kernel's record
/// (`struct process_identity`, read at bind time) or, where that is
/// missing, from `/proc` (read late, and only if the pid still names the
/// same process).
public struct ProcessIdentity: Sendable, Equatable {
    public enum Source: String, Sendable {
        case kernel, proc
    }

    public var pid: UInt32
    /// The process's start on CLOCK_BOOTTIME (the kernel's start_boottime;
    /// from `/proc`, its clock ticks in nanoseconds).
    public var startNanoseconds: UInt64
    /// The same, in the clock ticks of `/proc/PID/stat` (field 22): what the entity id hashes.
    public var startTicks: UInt64
    /// Which exec of the process this describes (its self_exec_id, as bind records carry it).
    public var execID: UInt32 = 0
    /// The path as the process's own root sees it; nil where unknown (a kernel thread).
    public var executable: [UInt8]?
    public var executableCut = false
    public var executableDeleted = false
    /// The argument vector; nil where unknown.
    public var arguments: [[UInt8]]?
    public var argumentsCut = false
    public var parentPID: UInt32
    public var parentStartTicks: UInt64?
    public var parentName: [UInt8]?
    /// The directory the process resolves paths from (its root), where known.
    public var root: RootKey?
    public var source: Source

    /// Arguments kept (each one an array element): the rest is cut.
    public static let maximumArguments = 128

    /// nil when the sample is not exactly one `process_identity`.
    public init?(record bytes: UnsafeRawBufferPointer, ticksPerSecond: UInt64) {
        guard bytes.count == MemoryLayout<process_identity>.size else { return nil }
        func field<T: BitwiseCopyable>(_ path: KeyPath<process_identity, T>) -> T {
            bytes.loadUnaligned(fromByteOffset: MemoryLayout<process_identity>.offset(of: path)!, as: T.self)
        }
        let flags = Int32(field(\.flags))
        pid = field(\.pid)
        startNanoseconds = field(\.start_ns)
        execID = field(\.exec_id)
        startTicks = Self.ticks(nanoseconds: startNanoseconds, perSecond: ticksPerSecond)
        parentPID = field(\.parent_pid)
        parentStartTicks = Self.ticks(nanoseconds: field(\.parent_start_ns), perSecond: ticksPerSecond)
        source = .kernel
        let rootInode: UInt64 = field(\.root_ino)
        root = rootInode == 0 ? nil : RootKey(kernelDevice: field(\.root_dev), inode: rootInode)
        let parentComm = Self.slice(bytes, \.parent_comm, count: Int(BINDSNOOP_COMM_LEN))
        parentName = Array(parentComm.prefix { $0 != 0 })

        if flags & Int32(BINDSNOOP_ID_EXE_UNREAD.rawValue) == 0 {
            let depth = min(Int(field(\.path_depth)), Int(BINDSNOOP_PATH_DEPTH))
            let names = Self.slice(bytes, \.path_names, count: Int(BINDSNOOP_PATH_BYTES + BINDSNOOP_NAME_ROOM))
            let lengthsAt = MemoryLayout<process_identity>.offset(of: \.name_len)!
            var components: [ArraySlice<UInt8>] = []
            var offset = 0
            for i in 0..<depth {
                let length = Int(bytes.loadUnaligned(fromByteOffset: lengthsAt + 2 * i, as: UInt16.self))
                guard offset + length <= names.count else { break }
                components.append(names[offset..<(offset + length)])
                offset += length + 1
            }
            var path: [UInt8] = []
            for component in components.reversed() {
                path.append(UInt8(ascii: "/"))
                path.append(contentsOf: component)
            }
            executable = path.isEmpty ? Array("/".utf8) : path
            executableCut = flags & Int32(BINDSNOOP_ID_EXE_CUT.rawValue) != 0
            executableDeleted = flags & Int32(BINDSNOOP_ID_EXE_DELETED.rawValue) != 0
        }
        if flags & Int32(BINDSNOOP_ID_ARGS_UNREAD.rawValue) == 0 {
            let length = min(Int(field(\.args_len)), Int(BINDSNOOP_ARGS_BYTES) - 1)
            let area = Self.slice(bytes, \.args, count: length)
            (arguments, argumentsCut) = Self.split(arguments: area, cut: flags & Int32(BINDSNOOP_ID_ARGS_CUT.rawValue) != 0)
        }
    }

    public init(pid: UInt32, startNanoseconds: UInt64, startTicks: UInt64, executable: [UInt8]?, arguments: [[UInt8]]?,
                parentPID: UInt32, parentStartTicks: UInt64?, parentName: [UInt8]?, source: Source) {
        self.pid = pid
        self.startNanoseconds = startNanoseconds
        self.startTicks = startTicks
        self.executable = executable
        self.arguments = arguments
        self.parentPID = parentPID
        self.parentStartTicks = parentStartTicks
        self.parentName = parentName
        self.source = source
    }

    /// Nanoseconds since boot as `/proc/PID/stat` shows them: whole clock
    /// ticks, rounded down (the kernel's nsec_to_clock_t).
    public static func ticks(nanoseconds: UInt64, perSecond: UInt64) -> UInt64 {
        nanoseconds / (1_000_000_000 / max(perSecond, 1))
    }

    /// An argument area (a NUL after each argument; a cut one may end
    /// inside the last) as arguments, at most `maximumArguments`.
    static func split(arguments area: some Collection<UInt8>, cut: Bool) -> ([[UInt8]], Bool) {
        var arguments: [[UInt8]] = []
        var current: [UInt8] = []
        var cut = cut
        var ended = true
        for byte in area {
            if byte == 0 {
                guard arguments.count < maximumArguments else { cut = true; break }
                arguments.append(current)
                current.removeAll(keepingCapacity: true)
                ended = true
            } else {
                current.append(byte)
                ended = false
            }
        }
        if !ended {
            // A cut argument, or a process that rewrote its area without the last NUL.
            if arguments.count < maximumArguments { arguments.append(current) } else { cut = true }
        }
        return (arguments, cut)
    }

    private static func slice<T>(_ bytes: UnsafeRawBufferPointer, _ path: KeyPath<process_identity, T>, count: Int) -> ArraySlice<UInt8> {
        let start = MemoryLayout<process_identity>.offset(of: path)!
        return ArraySlice(bytes[start..<(start + count)])
    }
}
