/// A growable byte buffer reused across events: encoders append to it, sinks
/// write it out in one call per batch, then it is cleared without freeing.
public struct OutputBuffer {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 1 << 16) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }
    public var isEmpty: Bool { bytes.isEmpty }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Drops the first `count` bytes (written out by a sink).
    public mutating func removeFirst(_ count: Int) {
        bytes.removeFirst(count)
    }

    /// Shortens the buffer back to `count` bytes (an abandoned partial line).
    public mutating func truncate(to count: Int) {
        bytes.removeLast(bytes.count - count)
    }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        bytes.append(byte)
    }

    @inline(__always)
    public mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func append(contentsOf other: [UInt8]) {
        bytes.append(contentsOf: other)
    }

    @inline(__always)
    public mutating func append(contentsOf other: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: other)
    }

    /// Decimal digits of an unsigned integer.
    public mutating func append(decimal value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(truncatingIfNeeded: value) &+ 0x30)
            return
        }
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes; UInt64.max has 20 digits
        withUnsafeMutableBytes(of: &scratch) { digits in
            var v = value
            var i = digits.count
            while v > 0 {
                i -= 1
                digits[i] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
                v /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[i...]))
        }
    }

    public mutating func append(decimal value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            append(decimal: value.magnitude)
        } else {
            append(decimal: UInt64(value))
        }
    }

    /// Exactly `width` digits, zero-padded (timestamps).
    public mutating func append(decimal value: UInt64, width: Int) {
        var divisor: UInt64 = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            bytes.append(UInt8(truncatingIfNeeded: (v / divisor) % 10) &+ 0x30)
            v %= divisor
            divisor /= 10
        }
    }

    /// `bytes` as the contents of a JSON string (without the quotes): valid
    /// UTF-8 passes through, `"` `\` and control bytes are escaped, and each
    /// invalid UTF-8 sequence becomes U+FFFD, so the line is always valid JSON.
    public mutating func appendJSONStringContents(_ input: UnsafeRawBufferPointer) {
        var i = 0
        let n = input.count
        while i < n {
            let b = input[i]
            if b >= 0x20 && b < 0x80 {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                    bytes.append(UInt8(ascii: "\\"))
                }
                bytes.append(b)
                i += 1
            } else if b < 0x20 || b == 0x7f {
                appendControlEscape(b)
                i += 1
            } else {
                let length = UTF8Validation.sequenceLength(input, at: i)
                if length == 0 {
                    bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
                    i += 1
                } else {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + length)]))
                    i += length
                }
            }
        }
    }

    private mutating func appendControlEscape(_ b: UInt8) {
        switch b {
        case 0x0A: append("\\n")
        case 0x0D: append("\\r")
        case 0x09: append("\\t")
        default:
            let hex: StaticString = "0123456789abcdef"
            append("\\u00")
            hex.withUTF8Buffer { digits in
                bytes.append(digits[Int(b >> 4)])
                bytes.append(digits[Int(b & 0xF)])
            }
        }
    }

    public mutating func appendJSONString(_ input: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        appendJSONStringContents(input)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func appendJSONString(_ string: String) {
        var s = string
        s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0)) }
    }
}

/// Well-formed UTF-8 per the Unicode standard (table 3-7): no overlongs, no
/// surrogates, nothing above U+10FFFF.
enum UTF8Validation {
    /// Length of the valid multi-byte sequence starting at `i`, or 0.
    static func sequenceLength(_ s: UnsafeRawBufferPointer, at i: Int) -> Int {
        let b0 = s[i]
        let remaining = s.count - i
        func continuation(_ k: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
            k < remaining && s[i + k] >= low && s[i + k] <= high
        }
        switch b0 {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : 0
        case 0xE0:
            return continuation(1, 0xA0) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return continuation(1) && continuation(2) ? 3 : 0
        case 0xED:
            return continuation(1, 0x80, 0x9F) && continuation(2) ? 3 : 0
        case 0xF0:
            return continuation(1, 0x90) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3:
            return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4:
            return continuation(1, 0x80, 0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default:
            return 0
        }
    }
}
