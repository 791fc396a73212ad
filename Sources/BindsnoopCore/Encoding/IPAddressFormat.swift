import Glibc

/// Textual IP addresses: dotted quad by hand, IPv6 through inet_ntop (RFC 5952
/// form, `::ffff:a.b.c.d` for mapped addresses) into a stack buffer.
public enum IPAddressFormat {
    public static func appendIPv4(_ address: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        for i in 0..<4 {
            if i > 0 { out.append(UInt8(ascii: ".")) }
            out.append(decimal: UInt64(address[i]))
        }
    }

    public static func appendIPv6(_ address: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &text) { buffer in
            let chars = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            guard inet_ntop(AF_INET6, address.baseAddress, chars, socklen_t(buffer.count)) != nil else { return }
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer.baseAddress, count: strlen(chars)))
        }
    }

    /// IPv6 text through a cache: glibc's inet_ntop formats with sprintf,
    /// ten times the cost of the rest of an address, and the addresses
    /// programs bind to repeat (::, ::1, a host's own few).
    public static func append(family: Int32, address: UnsafeRawBufferPointer, to out: inout OutputBuffer,
                              cache: inout IPv6TextCache) {
        guard family == AF_INET6, address.count >= 16 else {
            append(family: family, address: address, to: &out)
            return
        }
        let key = IPv6TextCache.Key(high: address.loadUnaligned(as: UInt64.self),
                                    low: address.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        if let text = cache.texts[key] {
            out.append(contentsOf: text)
            return
        }
        let start = out.count
        appendIPv6(address, to: &out)
        let text = out.withUnsafeBytes { Array($0[start...]) }
        if cache.texts.count >= IPv6TextCache.limit { cache.texts.removeAll(keepingCapacity: true) }
        cache.texts[key] = text
    }

    /// `family` is AF_INET or AF_INET6; anything else writes nothing.
    public static func append(family: Int32, address: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        if family == AF_INET {
            appendIPv4(address, to: &out)
        } else if family == AF_INET6 {
            appendIPv6(address, to: &out)
        }
    }
}

/// Formatted IPv6 addresses by their 16 bytes, at most `limit` of them.
public struct IPv6TextCache {
    struct Key: Hashable {
        var high: UInt64
        var low: UInt64
    }

    static let limit = 4096
    var texts: [Key: [UInt8]] = [:]

    public init() {}
}
