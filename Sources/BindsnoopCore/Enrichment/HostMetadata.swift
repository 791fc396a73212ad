import Glibc

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
}
