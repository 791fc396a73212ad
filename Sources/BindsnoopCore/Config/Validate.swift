/// Range checks of the key table (`ConfigKeys`), whatever the value came from.
enum Validate {
    static func pid(_ value: Int64, key: String) throws(ConfigError) -> UInt32 {
        guard value > 0, value <= Int64(Int32.max) else { throw ConfigError(key: key, "\(value) is not a process id: give a positive number") }
        return UInt32(value)
    }

    static func uid(_ value: Int64, key: String) throws(ConfigError) -> UInt32 {
        guard value >= 0, value < Int64(UInt32.max) else { throw ConfigError(key: key, "\(value) is not a user id: give a number from 0 to 4294967294") }
        return UInt32(value)
    }

    static func ports(_ ports: [UInt16], key: String) throws(ConfigError) -> [UInt16] {
        guard ports.count <= KernelFilter.maxPorts else { throw ConfigError(key: key, "lists \(ports.count) ports: at most \(KernelFilter.maxPorts) are allowed") }
        return ports
    }

    static func ringBufferSize(_ size: UInt64, key: String) throws(ConfigError) -> UInt64 {
        guard size >= 4096, size <= 1 << 30, size & (size - 1) == 0 else {
            throw ConfigError(key: key, "\(size) must be a power of two from 4KiB to 1GiB, e.g. 4MiB")
        }
        return size
    }
}
