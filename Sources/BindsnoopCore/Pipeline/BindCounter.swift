/// `--count`: binds per local address and port (BCC's count mode), kept in
/// user space and printed once at exit instead of one line per bind. The
/// address is the one bound for a success and the one asked for otherwise.
public struct BindCounter {
    public struct Key: Hashable, Sendable {
        public var family: Int32
        public var transport: UInt16
        public var address: (UInt64, UInt64)
        public var port: UInt16

        public static func == (a: Key, b: Key) -> Bool {
            a.family == b.family && a.transport == b.transport && a.address == b.address && a.port == b.port
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(family)
            hasher.combine(transport)
            hasher.combine(address.0)
            hasher.combine(address.1)
            hasher.combine(port)
        }

        /// The 16 address bytes (IPv4 in the first 4).
        public func withAddress<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            withUnsafeBytes(of: address, body)
        }
    }

    public struct Tally: Equatable, Sendable {
        public var binds: UInt64 = 0
        public var failures: UInt64 = 0
    }

    public private(set) var tallies: [Key: Tally] = [:]

    public init() {}

    public mutating func add(_ record: BindRecord) {
        let e = record.raw
        let succeeded = record.succeeded
        let (family, port): (Int32, UInt16) = succeeded
            ? (record.family, e.bound_port)
            : (record.requestedFamily ?? record.family, e.requested_port)
        let address = succeeded
            ? record.withBoundAddress { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
            : record.requestedFamily == nil ? (0, 0)
            : record.withRequestedAddress { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        let key = Key(family: family, transport: e.protocol, address: address, port: port)
        tallies[key, default: Tally()].binds += 1
        if !succeeded { tallies[key, default: Tally()].failures += 1 }
    }

    /// Most binds first; ties by port, for a stable order.
    public var sorted: [(key: Key, tally: Tally)] {
        tallies.map { ($0.key, $0.value) }.sorted {
            $0.tally.binds != $1.tally.binds ? $0.tally.binds > $1.tally.binds : $0.key.port < $1.key.port
        }
    }
}
