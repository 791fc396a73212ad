/// A growable byte buffer reused across events: encoders append to it, sinks
/// write it out in one call per batch, then it is cleared without freeing.
/// Raw memory rather than a `[UInt8]`: the hot path appends a few dozen
/// short pieces per event, and an array's generic append (uniqueness and
/// capacity checks, then a call to copy) was a third of the encoder's time.
/// Noncopyable, so it owns its memory alone, and a struct, so exclusive
/// access is checked at compile time rather than on every append.
public struct OutputBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    public private(set) var count = 0

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    public var isEmpty: Bool { count == 0 }

    /// A copy of the contents (for what is built once, not per event).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public mutating func removeAll() {
        count = 0
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private mutating func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    public mutating func append(_ literal: StaticString) {
        append(contentsOf: UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inline(__always)
    public mutating func append(contentsOf other: [UInt8]) {
        other.withUnsafeBytes { append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func append(contentsOf other: UnsafeRawBufferPointer) {
        let n = other.count
        guard n > 0 else { return }
        reserve(n)
        UnsafeMutableRawPointer(base + count).copyMemory(from: other.baseAddress!, byteCount: n)
        count += n
    }

    /// Decimal digits of an unsigned integer, written in place.
    public mutating func append(decimal value: UInt64) {
        var digits = 1
        var threshold: UInt64 = 10
        while digits < 20 && value >= threshold {  // UInt64.max has 20 digits
            digits += 1
            threshold &*= 10
        }
        writeDigits(value, count: digits)
    }

    public mutating func append(decimal value: Int64) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            append(decimal: value.magnitude)
        } else {
            append(decimal: UInt64(value))
        }
    }

    /// Exactly `width` digits, zero-padded (timestamps); higher digits are dropped.
    public mutating func append(decimal value: UInt64, width: Int) {
        writeDigits(value, count: width)
    }

    /// The last `count` decimal digits of `value`, backwards from the end:
    /// divisions by the constant 10, which compile to multiplications.
    @inline(__always)
    private mutating func writeDigits(_ value: UInt64, count digits: Int) {
        reserve(digits)
        var v = value
        var at = count + digits
        Self.digitPairs.withUTF8Buffer { pairs in
            while at - count >= 2 {  // two digits per division
                let pair = Int(v % 100) * 2
                v /= 100
                at -= 2
                base[at] = pairs[pair]
                base[at + 1] = pairs[pair + 1]
            }
        }
        if at > count {
            base[at - 1] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
        }
        count += digits
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
                    append(UInt8(ascii: "\\"))
                }
                append(b)
                i += 1
            } else if b < 0x20 || b == 0x7f {
                appendControlEscape(b)
                i += 1
            } else {
                let length = UTF8Validation.sequenceLength(input, at: i)
                if length == 0 {
                    append(contentsOf: Self.replacementCharacter)  // U+FFFD
                    i += 1
                } else {
                    append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + length)]))
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
                append(digits[Int(b >> 4)])
                append(digits[Int(b & 0xF)])
            }
        }
    }

    public mutating func appendJSONString(_ input: UnsafeRawBufferPointer) {
        append(UInt8(ascii: "\""))
        appendJSONStringContents(input)
        append(UInt8(ascii: "\""))
    }

    public mutating func appendJSONString(_ string: String) {
        var s = string
        s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0)) }
    }

    /// "00", "01", … "99" back to back.
    private static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
    private static let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]  // U+FFFD
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
