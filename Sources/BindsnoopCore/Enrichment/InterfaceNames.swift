#if canImport(Glibc)
import Glibc
#endif

/// SO_BINDTODEVICE indexes to names. A name is only meaningful in the network
/// namespace it was looked up in, so events from other namespaces get none
/// rather than a wrong one. Names are cached and the cache is refreshed
/// periodically, since interfaces come and go.
public struct InterfaceNames {
    public let networkNamespace: UInt32?
    private var cache: [Int32: [UInt8]?] = [:]
    private var lookup: (Int32) -> String?

    public init(networkNamespace: UInt32? = InterfaceNames.currentNetworkNamespace(),
                lookup: @escaping (Int32) -> String? = InterfaceNames.systemLookup) {
        self.networkNamespace = networkNamespace
        self.lookup = lookup
    }

    /// The name as a JSON string, quotes included.
    public mutating func encodedName(index: Int32, namespace: UInt32) -> [UInt8]? {
        guard index > 0, namespace == networkNamespace else { return nil }
        if let cached = cache[index] { return cached }
        let encoded = lookup(index).map { name -> [UInt8] in
            var out = OutputBuffer(capacity: 32)
            out.appendJSONString(name)
            return out.bytes
        }
        cache[index] = encoded
        return encoded
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
