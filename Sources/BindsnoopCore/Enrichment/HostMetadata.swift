#if canImport(Glibc)
import Glibc
#endif

/// What every event says about the host, read once at start.
public struct HostMetadata: Sendable, Equatable {
    public var name: String
    public var machineID: String?
    public var bootID: String?
    public var kernelRelease: String
    public var architecture: String

    public init(name: String, machineID: String?, bootID: String?, kernelRelease: String, architecture: String) {
        self.name = name
        self.machineID = machineID
        self.bootID = bootID
        self.kernelRelease = kernelRelease
        self.architecture = architecture
    }

    /// From uname(2), /etc/machine-id and the kernel's boot id.
    public static func current() -> HostMetadata {
        var names = utsname()
        uname(&names)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return HostMetadata(
            name: field(names.nodename),
            machineID: firstLine(of: "/etc/machine-id"),
            bootID: firstLine(of: "/proc/sys/kernel/random/boot_id"),
            kernelRelease: field(names.release),
            architecture: field(names.machine)
        )
    }

    /// `"host":{...}` ready to paste into each line.
    public var encodedJSONMember: [UInt8] {
        var out = OutputBuffer(capacity: 256)
        out.append("\"host\":{\"name\":")
        out.appendJSONString(name)
        if let machineID {
            out.append(",\"id\":")
            out.appendJSONString(machineID)
        }
        if let bootID {
            out.append(",\"boot\":{\"id\":")
            out.appendJSONString(bootID)
            out.append("}")
        }
        out.append(",\"os\":{\"type\":\"linux\",\"kernel\":")
        out.appendJSONString(kernelRelease)
        out.append("},\"architecture\":")
        out.appendJSONString(architecture)
        out.append("}")
        return out.bytes
    }
}

/// The first line of a small text file, trimmed; nil if unreadable or empty.
func firstLine(of path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    guard fgets(&line, Int32(line.count), file) != nil else { return nil }
    let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let trimmed = text.filter { !$0.isWhitespace }
    return trimmed.isEmpty ? nil : trimmed
}
