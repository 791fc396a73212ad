import CBindsnoop

/// Names of the kernel numbers an event carries, as ECS and users spell them.
public enum SocketNames {
    /// `network.transport`: lowercase IANA keyword, or the number for others.
    public static func transport(_ protocolNumber: UInt16) -> StaticString? {
        switch protocolNumber {
        case 1: "icmp"
        case 2: "igmp"
        case 6: "tcp"
        case 17: "udp"
        case 33: "dccp"
        case 58: "ipv6-icmp"
        case 132: "sctp"
        case 136: "udplite"
        case 255: "raw"
        case 262: "mptcp"
        default: nil
        }
    }

    /// `bind.socket_type`
    public static func socketType(_ type: UInt16) -> StaticString? {
        switch type {
        case 1: "stream"
        case 2: "dgram"
        case 3: "raw"
        case 4: "rdm"
        case 5: "seqpacket"
        case 6: "dccp"
        case 10: "packet"
        default: nil
        }
    }

    /// `bind.options`, in the order of the bits in `bpf/bindsnoop.h`.
    public static let options: [(bit: UInt8, name: StaticString, tableLetter: UInt8)] = [
        (UInt8(BINDSNOOP_OPT_FREEBIND.rawValue), "freebind", UInt8(ascii: "F")),
        (UInt8(BINDSNOOP_OPT_TRANSPARENT.rawValue), "transparent", UInt8(ascii: "T")),
        (UInt8(BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT.rawValue), "bind_address_no_port", UInt8(ascii: "N")),
        (UInt8(BINDSNOOP_OPT_REUSEADDR.rawValue), "reuseaddr", UInt8(ascii: "R")),
        (UInt8(BINDSNOOP_OPT_REUSEPORT.rawValue), "reuseport", UInt8(ascii: "r")),
    ]
}
