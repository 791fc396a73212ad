@testable import BindsnoopCore
import CBindsnoop
import Foundation
import Testing

@Suite struct EventEncoderTests {
    @Test func successfulTCPBindHasECSFields() throws {
        let (line, event) = try RecordFixtures.encodeAndParse(RecordFixtures.record(), sequence: 7)
        #expect(line.hasSuffix("}\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
        #expect(event["@timestamp"] as? String == "2026-01-01T00:00:01.000000000Z")
        #expect(event.path("event.action") as? String == "bind")
        #expect(event.path("event.outcome") as? String == "success")
        #expect(event.path("event.sequence") as? Int == 7)
        #expect(event.path("event.id") as? String == "\(RecordFixtures.host.runID)-7")
        #expect(event.path("host.name") as? String == "node-1")
        #expect(event.path("host.id") as? String == "0123456789abcdef0123456789abcdef")
        #expect(event.path("process.pid") as? Int == 1234)
        #expect(event.path("process.thread.id") as? Int == 1235)
        #expect(event.path("process.parent.pid") as? Int == 1)
        #expect(event.path("process.user.id") as? String == "1000")
        #expect(event.path("process.name") as? String == "nginx")
        #expect(event.path("network.type") as? String == "ipv4")
        #expect(event.path("network.transport") as? String == "tcp")
        #expect(event.path("server.ip") as? String == "127.0.0.1")
        #expect(event.path("server.port") as? Int == 8080)
        #expect(event.path("bind.requested.ip") as? String == "127.0.0.1")
        #expect(event.path("bind.probe") as? String == "tracepoint")
        #expect(event.path("bind.options") as? [String] == [])
        #expect(event["error"] == nil)
    }

    @Test func failedBindCarriesErrnoNameAndNoServer() throws {
        let (_, event) = try RecordFixtures.encodeAndParse(RecordFixtures.record(ret: -98, boundPort: 0))
        #expect(event.path("event.outcome") as? String == "failure")
        #expect(event.path("error.code") as? String == "EADDRINUSE")
        #expect(event.path("error.message") as? String == "Address already in use")
        #expect(event.path("bind.return_value") as? Int == -98)
        #expect(event["server"] == nil)
    }

    @Test func unknownErrnoIsItsNumber() throws {
        let (_, event) = try RecordFixtures.encodeAndParse(RecordFixtures.record(ret: -4000))
        #expect(event.path("error.code") as? String == "4000")
    }

    @Test func ipv6AndMappedAddresses() throws {
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]
        let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
        let record = RecordFixtures.record(family: 10, protocolNumber: 17, sockType: 2, requestedFamily: 10,
                                           requestedLength: 28, requestedAddress: mapped, boundAddress: loopback)
        let (_, event) = try RecordFixtures.encodeAndParse(record)
        #expect(event.path("network.type") as? String == "ipv6")
        #expect(event.path("network.transport") as? String == "udp")
        #expect(event.path("bind.socket_type") as? String == "dgram")
        #expect(event.path("bind.requested.ip") as? String == "::ffff:127.0.0.1")
        #expect(event.path("server.ip") as? String == "::1")
    }

    @Test func shortSockaddrOmitsRequestedAddress() throws {
        let (_, event) = try RecordFixtures.encodeAndParse(RecordFixtures.record(requestedLength: 4))
        #expect(event.path("bind.requested.port") as? Int == 8080)
        #expect(event.path("bind.requested.ip") == nil)
        let (_, none) = try RecordFixtures.encodeAndParse(RecordFixtures.record(requestedLength: 0))
        #expect(none.path("bind.requested") == nil)
    }

    @Test func optionsInterfaceAndOtherProtocols() throws {
        let all = UInt8(0x1f)
        let (_, event) = try RecordFixtures.encodeAndParse(
            RecordFixtures.record(protocolNumber: 262, options: all, boundDevice: 1))
        #expect(event.path("bind.options") as? [String] ==
            ["freebind", "transparent", "bind_address_no_port", "reuseaddr", "reuseport"])
        #expect(event.path("bind.interface.index") as? Int == 1)
        #expect(event.path("bind.interface.name") as? String == "lo")
        #expect(event.path("network.transport") as? String == "mptcp")
        #expect(event.path("network.iana_number") == nil)

        let (_, other) = try RecordFixtures.encodeAndParse(
            RecordFixtures.record(protocolNumber: 99, boundDevice: 7, netns: 1))
        #expect(other.path("network.transport") as? String == "99")
        #expect(other.path("network.iana_number") as? String == "99")
        #expect(other.path("bind.interface.index") as? Int == 7)
        #expect(other.path("bind.interface.name") == nil, "another namespace's index must not be named")
    }

    @Test(arguments: [
        [UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x01, 0x7F],
        [0xFF, 0xFE, 0xC3],  // invalid UTF-8, truncated sequence
        [0xED, 0xA0, 0x80],  // an encoded surrogate
        [0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80],  // € 😀
        [0xC0, 0xAF, 0x41],  // overlong '/'
        Array(repeating: UInt8(ascii: "A"), count: 16),  // no NUL terminator
    ])
    func hostileCommIsAlwaysValidJSON(comm: [UInt8]) throws {
        let (_, event) = try RecordFixtures.encodeAndParse(RecordFixtures.record(comm: comm))
        let name = try #require(event.path("process.thread.name") as? String)
        #expect(!name.isEmpty)
        #expect(name.utf8.count <= comm.count * 3)
    }

    @Test func escapesAreExact() {
        var out = OutputBuffer()
        let input: [UInt8] = [UInt8(ascii: "a"), UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x1F, 0xFF, 0xE2, 0x82, 0xAC]
        input.withUnsafeBytes { out.appendJSONString($0) }
        #expect(String(decoding: out.bytes, as: UTF8.self) == "\"a\\\"\\\\\\n\\u001f\u{FFFD}€\"")
    }

    @Test func lossRecordIsAMetric() throws {
        let encoder = MetricEncoder(host: RecordFixtures.host)
        var out = OutputBuffer()
        encoder.encodeLoss(source: "kernel", lost: 5, total: 12, unixNanoseconds: 0, sequence: 3, into: &out)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(out.bytes)) as? [String: Any])
        #expect(event.path("event.kind") as? String == "metric")
        #expect(event.path("event.action") as? String == "events-lost")
        #expect(event.path("bind.lost.events") as? Int == 5)
        #expect(event.path("bind.lost.total") as? Int == 12)
        #expect(event["@timestamp"] as? String == "1970-01-01T00:00:00.000000000Z")
        #expect(event.path("event.id") as? String == "\(RecordFixtures.host.runID)-3")
    }

    /// A sink's record of its own drops has no sequence: its id names the sink and the range.
    @Test func aSinksLossRecordIsNamedByItsRange() throws {
        var out = OutputBuffer()
        MetricEncoder(host: RecordFixtures.host).encodeLoss(source: "unix", reason: "buffer_full", lost: 5, total: 5,
                                                            unixNanoseconds: 0, sequence: nil, range: 5...9, into: &out)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(out.bytes)) as? [String: Any])
        #expect(event.path("event.sequence") == nil)
        #expect(event.path("event.id") as? String == "\(RecordFixtures.host.runID)-unix-5-9")
    }

    /// A run id is 96 random bits in hex: never the same twice.
    @Test func runIDsAreRandomHex() {
        let ids = (0..<1000).map { _ in HostMetadata.newRunID() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 24 && $0.utf8.allSatisfy { ContainerIdentity.isHexDigit($0) } })
        #expect(Set(ids.map { $0.prefix(1) }).count > 1, "leading digits vary (zero-padded, not dropped)")
    }
}
