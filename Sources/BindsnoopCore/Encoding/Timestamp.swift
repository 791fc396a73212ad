import Glibc

/// RFC 3339 timestamps for a stream of events: the `2026-11-25T05:38:19` of
/// the last second written is kept, so the events of one second format only
/// their fraction (the calendar arithmetic was a seventh of the encoder's time).
public struct TimestampFormatter: Sendable {
    private var second = Int64.min
    private var prefix: [UInt8] = []

    public init() {}

    public mutating func append(unixNanoseconds: Int64, to out: inout OutputBuffer) {
        let (secs, nano) = RFC3339.split(unixNanoseconds)
        if secs == second {
            out.append(contentsOf: prefix)
        } else {
            let start = out.count
            RFC3339.appendSecond(secs, to: &out)
            prefix = out.withUnsafeBytes { Array($0[start...]) }
            second = secs
        }
        RFC3339.appendFraction(nano, to: &out)
    }
}

public enum RFC3339 {
    /// `2026-11-25T05:38:19.123456789Z`
    public static func append(unixNanoseconds: Int64, to out: inout OutputBuffer) {
        let (secs, nano) = split(unixNanoseconds)
        appendSecond(secs, to: &out)
        appendFraction(nano, to: &out)
    }

    /// Whole seconds since the epoch and the nanoseconds past them.
    static func split(_ unixNanoseconds: Int64) -> (seconds: Int64, nanoseconds: Int64) {
        floorDivide(unixNanoseconds, 1_000_000_000)
    }

    /// `2026-11-25T05:38:19`
    static func appendSecond(_ secs: Int64, to out: inout OutputBuffer) {
        let (days, secondOfDay) = floorDivide(secs, 86_400)
        let (year, month, day) = civil(fromDays: days)
        out.append(decimal: UInt64(year), width: 4)
        out.append(UInt8(ascii: "-"))
        out.append(decimal: UInt64(month), width: 2)
        out.append(UInt8(ascii: "-"))
        out.append(decimal: UInt64(day), width: 2)
        out.append(UInt8(ascii: "T"))
        appendClock(secondOfDay: secondOfDay, to: &out)
    }

    /// `.123456789Z`
    static func appendFraction(_ nano: Int64, to out: inout OutputBuffer) {
        out.append(UInt8(ascii: "."))
        out.append(decimal: UInt64(nano), width: 9)
        out.append(UInt8(ascii: "Z"))
    }

    /// `HH:MM:SS` of the UTC day (the table format's TIME column).
    public static func appendClock(unixNanoseconds: Int64, to out: inout OutputBuffer) {
        let (secondOfDay) = floorDivide(floorDivide(unixNanoseconds, 1_000_000_000).0, 86_400).1
        appendClock(secondOfDay: secondOfDay, to: &out)
    }

    private static func appendClock(secondOfDay: Int64, to out: inout OutputBuffer) {
        out.append(decimal: UInt64(secondOfDay / 3600), width: 2)
        out.append(UInt8(ascii: ":"))
        out.append(decimal: UInt64(secondOfDay / 60 % 60), width: 2)
        out.append(UInt8(ascii: ":"))
        out.append(decimal: UInt64(secondOfDay % 60), width: 2)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let (q, r) = a.quotientAndRemainder(dividingBy: b)
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
