import Glibc

/// What every event says about the host, read once at start.
public struct HostMetadata: Sendable, Equatable {
    public var name: String
    public var machineID: String?
    public var bootID: String?
    public var kernelRelease: String
    public var architecture: String
    /// This run of bindsnoop (`agent.ephemeral_id`, the prefix of every
    /// `event.id`): 96 random bits in hex, chosen at start, so that no two
    /// runs on any host, in any boot, share an event id.
    public var runID: String

    public init(name: String, machineID: String?, bootID: String?, kernelRelease: String, architecture: String,
                runID: String = HostMetadata.newRunID()) {
        self.name = name
        self.machineID = machineID
        self.bootID = bootID
        self.kernelRelease = kernelRelease
        self.architecture = architecture
        self.runID = runID
    }

    /// 24 hex digits from the system's random source (getrandom(2)).
    public static func newRunID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = UInt32.random(in: .min ... .max, using: &generator), low = UInt64.random(in: .min ... .max, using: &generator)
        func hex<T: FixedWidthInteger>(_ value: T, digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: digits - text.count) + text
        }
        return hex(high, digits: 8) + hex(low, digits: 16)
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
