/// `--count`: binds per local address and port (BCC's count mode), kept in
/// user space and printed once at exit instead of one line per bind. The
/// address is the one bound for a success and the one asked for otherwise.
public struct BindCounter {
    public struct Key: Hashable, Sendable {
        public var family: Int32
        public var transport: UInt16
        /// The 16 address bytes (IPv4 in the first 4), as two words.
        public var addressHigh: UInt64
        public var addressLow: UInt64
        public var port: UInt16

        public func withAddress<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            withUnsafeBytes(of: (addressHigh, addressLow), body)
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
        let words = { (bytes: UnsafeRawBufferPointer) in
            (bytes.loadUnaligned(as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        let address: (UInt64, UInt64) = succeeded ? record.withBoundAddress(words)
            : record.requestedFamily == nil ? (0, 0) : record.withRequestedAddress(words)
        let key = Key(family: family, transport: e.protocol, addressHigh: address.0, addressLow: address.1, port: port)
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
