/// When to start a new file and which rotated files to keep: pure decisions,
/// tested without a file system.
public struct RotationPolicy: Sendable, Equatable {
    public var maxSize: UInt64
    public var maxAge: Double?
    public var maxFiles: Int
    public var maxTotalSize: UInt64?

    public init(maxSize: UInt64, maxAge: Double? = nil, maxFiles: Int, maxTotalSize: UInt64? = nil) {
        self.maxSize = maxSize
        self.maxAge = maxAge
        self.maxFiles = maxFiles
        self.maxTotalSize = maxTotalSize
    }

    /// Whether a line of `lineBytes` must go to a new file. A line is never
    /// split, and an empty file takes any line (a line longer than maxSize
    /// gets a file of its own).
    public func needsRotation(currentSize: UInt64, lineBytes: Int) -> Bool {
        currentSize > 0 && currentSize + UInt64(lineBytes) > maxSize
    }

    public func isTooOld(currentSize: UInt64, openedAt: Double, now: Double) -> Bool {
        guard let maxAge, currentSize > 0 else { return false }
        return now - openedAt >= maxAge
    }

    /// How many of the rotated files still plain (oldest first, with when
    /// each was rotated) may be compressed now: every one but the newest
    /// whose grace period is over. The newest stays plain until the next
    /// rotation, so that a forwarder tailing the active file can finish it
    /// under its rotated name.
    public static func compressible(rotatedAt: [Double], now: Double, grace: Double) -> Int {
        var count = 0
        while count + 1 < rotatedAt.count && now - rotatedAt[count] >= grace { count += 1 }
        return count
    }

    /// The rotated files to delete, oldest first: beyond `maxFiles`, then
    /// beyond `maxTotalSize`. `files` are (name, bytes); names sort by age.
    public func filesToDelete(_ files: [(name: String, bytes: UInt64)]) -> [String] {
        let newestFirst = files.sorted { $0.name > $1.name }
        var kept: [(name: String, bytes: UInt64)] = []
        var deleted: [String] = []
        var total: UInt64 = 0
        for file in newestFirst {
            if kept.count >= maxFiles || (maxTotalSize.map { total + file.bytes > $0 } ?? false) {
                deleted.append(file.name)
            } else {
                kept.append(file)
                total += file.bytes
            }
        }
        return deleted.reversed()
    }
}

/// Names of rotated files: `bind.ndjson` rotates to
/// `bind-20261125T061000.123456789Z.ndjson`, compressed to `….ndjson.zst`.
public struct RotatedFileNames: Sendable, Equatable {
    public let stem: String
    public let suffix: String

    public init(activeName: String) {
        if let dot = activeName.lastIndex(of: "."), dot != activeName.startIndex {
            stem = String(activeName[..<dot])
            suffix = String(activeName[dot...])
        } else {
            stem = activeName
            suffix = ""
        }
    }

    /// The rotated name for a file closed at `unixNanoseconds`.
    public func rotatedName(unixNanoseconds: Int64) -> String {
        var out = OutputBuffer(capacity: 40)
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        let stamp = String(decoding: out.bytes, as: UTF8.self).filter { $0 != "-" && $0 != ":" }
        return "\(stem)-\(stamp)\(suffix)"
    }

    public enum Kind: Equatable, Sendable { case plain, compressed, partialCompression }

    /// What a directory entry is, if it is one of ours.
    public func classify(_ name: String) -> Kind? {
        let prefix = "\(stem)-"
        guard name.hasPrefix(prefix) else { return nil }
        var rest = Substring(name.dropFirst(prefix.count))
        let kind: Kind
        if rest.hasSuffix("\(suffix).zst.tmp") {
            kind = .partialCompression
            rest = rest.dropLast("\(suffix).zst.tmp".count)
        } else if rest.hasSuffix("\(suffix).zst") {
            kind = .compressed
            rest = rest.dropLast("\(suffix).zst".count)
        } else if rest.hasSuffix(suffix) {
            kind = .plain
            rest = rest.dropLast(suffix.count)
        } else {
            return nil
        }
        // 20261125T061000.123456789Z
        let shape = Array(rest.utf8)
        guard shape.count == 26, shape[8] == UInt8(ascii: "T"), shape[15] == UInt8(ascii: "."),
              shape[25] == UInt8(ascii: "Z") else { return nil }
        for (i, c) in shape.enumerated() where ![8, 15, 25].contains(i) {
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
        }
        return kind
    }
}
