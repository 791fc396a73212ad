import CBindsnoop
import Glibc

/// One bind() as the kernel reported it: the shared C record
/// (`bpf/bindsnoop.h`), checked for size and copied out of the ring buffer.
public struct BindRecord: Sendable {
    public var raw: bind_event

    public static let size = MemoryLayout<bind_event>.size

    public init(raw: bind_event) {
        self.raw = raw
    }

    /// nil when the record is not exactly one `bind_event` (a kernel program
    /// built from another header, or a truncated sample).
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.size else { return nil }
        raw = bytes.loadUnaligned(as: bind_event.self)
    }

    public var succeeded: Bool { raw.ret == 0 }
    /// The call's errno; nil where the mode never saw the result (cgroup
    /// mode: requested, never bound; or a port-0 bind under
    /// IP_BIND_ADDRESS_NO_PORT, whose outcome is unknown).
    public var errno: Int32? { raw.ret < 0 ? -raw.ret : nil }
    /// cgroup mode, port-0 bind under IP_BIND_ADDRESS_NO_PORT: no hook tells
    /// whether it succeeded.
    public var outcomeUnknown: Bool { raw.ret == Int32(BINDSNOOP_RET_UNKNOWN.rawValue) }
    public var family: Int32 { Int32(raw.family) }
    public var probe: ProbeMode? { ProbeMode(kernelValue: raw.probe) }

    /// The caller's address family, as far as the captured sockaddr tells.
    /// AF_UNSPEC on an AF_INET socket means AF_INET (inet_bind accepts it).
    public var requestedFamily: Int32? {
        let declared = Int32(raw.requested_family)
        switch declared {
        case AF_INET6 where raw.requested_len >= 24: return AF_INET6
        case AF_INET where raw.requested_len >= 8: return AF_INET
        case AF_UNSPEC where raw.requested_len >= 8 && family == AF_INET: return AF_INET
        default: return nil
        }
    }

    public var hasRequestedPort: Bool { raw.requested_len >= 4 }

    public func withThreadName<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: raw.comm) { body(Self.cString($0)) }
    }

    public func withProcessName<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: raw.process_comm) { body(Self.cString($0)) }
    }

    public func withRequestedAddress<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: raw.requested_addr, body)
    }

    public func withBoundAddress<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: raw.bound_addr, body)
    }

    /// The bytes before the first NUL (comm is NUL-padded, not always terminated).
    private static func cString(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return UnsafeRawBufferPointer(rebasing: bytes[0..<end])
    }
}
