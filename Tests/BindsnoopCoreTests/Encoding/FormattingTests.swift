@testable import BindsnoopCore
import CBindsnoop
import Foundation
import Testing

@Suite struct FormattingTests {
    private func text(_ body: (inout OutputBuffer) -> Void) -> String {
        var out = OutputBuffer()
        body(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000000000Z"),
        (Int64(951_782_400_123_456_789), "2000-02-29T00:00:00.123456789Z"),
        (Int64(1_795_959_499_000_000_001), "2026-11-29T13:38:19.000000001Z"),
        (Int64(-1), "1969-12-31T23:59:59.999999999Z"),
        (Int64(4_102_444_800_000_000_000), "2100-01-01T00:00:00.000000000Z"),
    ])
    func rfc3339(nanoseconds: Int64, expected: String) {
        #expect(text { RFC3339.append(unixNanoseconds: nanoseconds, to: &$0) } == expected)
    }

    @Test func rfc3339AgreesWithFoundationOverManyDays() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        for day in stride(from: -100_000, to: 100_000, by: 37) {  // about 1700 to 2240
            let seconds = Int64(day) * 86_400 + Int64(day * 7919 % 86_400).magnitude.toInt64
            let ours = text { RFC3339.append(unixNanoseconds: seconds * 1_000_000_000, to: &$0) }
            let theirs = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(ours.prefix(19) == theirs.prefix(19), "\(seconds)")
        }
    }

    /// The formatter reuses the last second's text: a stream that goes back
    /// and forth across seconds, days and the epoch, with other bytes in the
    /// buffer before each timestamp, reads as the uncached function writes it.
    @Test func timestampFormatterMatchesUncached() {
        var formatter = TimestampFormatter()
        let base: Int64 = 1_795_996_799_999_999_990  // 10 ns before a new day
        let times = [base, base + 5, base + 10, base + 9, Int64(-1), 0, base + 10, base + 86_400_000_000_000, base]
        for (i, t) in times.enumerated() {
            let cached = text { out in
                out.append(decimal: UInt64(i))
                formatter.append(unixNanoseconds: t, to: &out)
            }
            let plain = text { out in
                out.append(decimal: UInt64(i))
                RFC3339.append(unixNanoseconds: t, to: &out)
            }
            #expect(cached == plain, "\(t)")
        }
    }

    @Test func decimals() {
        #expect(text { $0.append(decimal: UInt64(0)) } == "0")
        #expect(text { $0.append(decimal: UInt64.max) } == "18446744073709551615")
        #expect(text { $0.append(decimal: Int64.min) } == "-9223372036854775808")
        #expect(text { $0.append(decimal: UInt64(7), width: 3) } == "007")
    }

    @Test func addresses() {
        let cases: [([UInt8], Int32, String)] = [
            ([10, 0, 0, 255], AF_INET, "10.0.0.255"),
            (Array(repeating: 0, count: 16), AF_INET6, "::"),
            ([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1], AF_INET6, "2001:db8::1"),
            ([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a], AF_INET6, "fe80::a"),
        ]
        for (bytes, family, expected) in cases {
            #expect(text { out in bytes.withUnsafeBytes { IPAddressFormat.append(family: family, address: $0, to: &out) } } == expected)
        }
    }

    @Test func tableColumns() {
        let table = TableEncoder(showTimestamp: true, showUID: true)
        let header = text { table.header(into: &$0) }
        #expect(header.split(separator: " ", omittingEmptySubsequences: true) ==
            ["TIME", "UID", "PID", "COMM", "RET", "PROT", "ADDR", "PORT", "OPTS", "IF\n"])
        let ok = text { table.encode(RecordFixtures.record(options: 0x09, boundDevice: 1), at: 1_000_000_000, into: &$0) }
        #expect(ok.split(separator: " ", omittingEmptySubsequences: true) ==
            ["00:00:01", "1000", "1234", "nginx", "0", "TCP", "127.0.0.1", "8080", "F..R.", "1\n"])
        let failed = text { table.encode(RecordFixtures.record(ret: -13, requestedPort: 80), at: 1_000_000_000, into: &$0) }
        #expect(failed.contains("EACCES"))
        #expect(failed.contains(" 80 "))
    }
}

private extension UInt64 {
    var toInt64: Int64 { Int64(self) }
}

struct BindCounterTests {
    @Test func successesByBoundAddressFailuresByRequested() {
        var counter = BindCounter()
        counter.add(RecordFixtures.record(boundPort: 8080))
        counter.add(RecordFixtures.record(boundPort: 8080))
        counter.add(RecordFixtures.record(ret: -98, requestedPort: 8080, boundAddress: [0, 0, 0, 0], boundPort: 0))
        counter.add(RecordFixtures.record(protocolNumber: 17, sockType: 2, boundPort: 53))
        let sorted = counter.sorted
        #expect(sorted.map(\.key.port) == [8080, 53])
        #expect(sorted.first?.tally == BindCounter.Tally(binds: 3, failures: 1))
        #expect(sorted.last?.key.transport == 17)
    }
}
