/// Encoded lines on their way to the sinks: the bytes, and where each line
/// ends. Encoders append to `bytes`; a line counts once `endLine` marks it,
/// and only marked lines are handed out, so what a sink writes as bytes and
/// what it writes line by line are the same lines.
struct LineBuffer: ~Copyable {
    var bytes = OutputBuffer(capacity: 1 << 20)
    private(set) var lineEnds: [Int] = []
    private(set) var sequences: [UInt64] = []

    var isEmpty: Bool { lineEnds.isEmpty }
    var byteCount: Int { bytes.count }

    /// Marks the end of the line just encoded (sequence 0: a line without one).
    @inline(__always)
    mutating func endLine(_ sequence: UInt64) {
        lineEnds.append(bytes.count)
        sequences.append(sequence)
    }

    /// The marked lines, valid during `body` only.
    func withBatch<R>(_ body: (LineBatch) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { all in
            let whole = UnsafeRawBufferPointer(rebasing: all[..<(lineEnds.last ?? 0)])
            return try body(LineBatch(bytes: whole, lineEnds: lineEnds, sequences: sequences))
        }
    }

    mutating func removeAll() {
        bytes.removeAll()
        lineEnds.removeAll(keepingCapacity: true)
        sequences.removeAll(keepingCapacity: true)
    }
}

/// A batch of NDJSON lines: `bytes` holds them back to back, each ending in
/// a newline at `lineEnds[i] - 1`; `sequences[i]` is line i's event.sequence
/// (0 for a line without one). Borrowed: `bytes` is valid only during the
/// `Sink.write` call that receives it; a sink that keeps lines copies them.
public struct LineBatch {
    public let bytes: UnsafeRawBufferPointer
    public let lineEnds: [Int]
    public let sequences: [UInt64]

    public init(bytes: UnsafeRawBufferPointer, lineEnds: [Int], sequences: [UInt64]) {
        self.bytes = bytes
        self.lineEnds = lineEnds
        self.sequences = sequences
    }

    public var count: Int { lineEnds.count }

    public func line(_ i: Int) -> UnsafeRawBufferPointer {
        let start = i == 0 ? 0 : lineEnds[i - 1]
        return UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnds[i]])
    }
}
