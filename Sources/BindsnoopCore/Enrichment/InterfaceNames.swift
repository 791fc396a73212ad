import Glibc

/// SO_BINDTODEVICE indexes to names. A name is only meaningful in the network
/// namespace it was looked up in, so events from other namespaces get none
/// rather than a wrong one. Names are cached and the cache is refreshed
/// periodically, since interfaces come and go.
public struct InterfaceNames {
    public let networkNamespace: UInt32?
    private var cache: [Int32: String?] = [:]
    private var lookup: (Int32) -> String?

    public init(networkNamespace: UInt32? = InterfaceNames.currentNetworkNamespace(),
                lookup: @escaping (Int32) -> String? = InterfaceNames.systemLookup) {
        self.networkNamespace = networkNamespace
        self.lookup = lookup
    }

    /// The interface's name, for a socket in `namespace`; nil for an index
    /// unknown here or a socket in another namespace.
    public mutating func name(index: Int32, namespace: UInt32) -> String? {
        guard index > 0, namespace == networkNamespace else { return nil }
        if let cached = cache[index] { return cached }
        let name = lookup(index)
        cache[index] = name
        return name
    }

    public mutating func forget() {
        cache.removeAll(keepingCapacity: true)
    }

    public static func systemLookup(_ index: Int32) -> String? {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(index), &name) != nil else { return nil }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Inode of /proc/self/ns/net, the namespace this process resolves names in.
    public static func currentNetworkNamespace() -> UInt32? {
        var status = stat()
        guard stat("/proc/self/ns/net", &status) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: status.st_ino)
    }
}
