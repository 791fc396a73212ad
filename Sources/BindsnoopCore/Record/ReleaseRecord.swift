import CBindsnoop

/// A reported socket given back, as the release hook sent it
/// (`struct release_event` in `bpf/bindsnoop.h`): the record it was reported
/// with and when it was released.
public struct ReleaseRecord: Sendable {
    public var raw: release_event

    public static let size = MemoryLayout<release_event>.size

    public init(raw: release_event) {
        self.raw = raw
    }

    /// nil when the sample is not exactly one `release_event`.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.size else { return nil }
        raw = bytes.loadUnaligned(as: release_event.self)
    }

    /// The bind record (or inventory entry) the socket was reported with.
    public var reported: BindRecord { BindRecord(raw: raw.event) }
    /// The inventory at start reported it (probe 0), not a bind record.
    public var fromInventory: Bool { raw.event.probe == 0 }
    /// How long it was held since it was reported, in nanoseconds.
    public var heldNanoseconds: UInt64 { raw.released_ns &- min(raw.event.boot_ns, raw.released_ns) }
}
