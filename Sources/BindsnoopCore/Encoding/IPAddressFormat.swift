#if canImport(Glibc)
import Glibc
#endif

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

    /// `family` is AF_INET or AF_INET6; anything else writes nothing.
    public static func append(family: Int32, address: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        if family == AF_INET {
            appendIPv4(address, to: &out)
        } else if family == AF_INET6 {
            appendIPv6(address, to: &out)
        }
    }
}
