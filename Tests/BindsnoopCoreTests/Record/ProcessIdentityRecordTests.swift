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
