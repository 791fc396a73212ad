@testable import BindsnoopCore
import CBindsnoop
import Testing

@Suite struct BindRecordTests {
    @Test func recordRoundTripsThroughBytes() throws {
        let original = RecordFixtures.record(ret: -98, requestedPort: 443, options: 0x12)
        let bytes = withUnsafeBytes(of: original.raw) { Array($0) }
        let decoded = try #require(bytes.withUnsafeBytes { BindRecord(bytes: $0) })
        #expect(decoded.raw.requested_port == 443)
        #expect(decoded.errno == 98)
        #expect(decoded.raw.options == 0x12)
        #expect(decoded.probe == .tracepoint)
        #expect(decoded.withThreadName { Array($0) } == Array("nginx".utf8))
    }

    @Test func wrongSizedRecordsAreRejected() {
        let bytes = [UInt8](repeating: 0xAB, count: BindRecord.size + 8)
        #expect(bytes.withUnsafeBytes { BindRecord(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<(BindRecord.size - 1)])) } == nil)
        #expect(bytes.withUnsafeBytes { BindRecord(bytes: $0) } == nil)
        #expect([UInt8]().withUnsafeBytes { BindRecord(bytes: $0) } == nil)
    }

    @Test func requestedFamilyNeedsEnoughBytes() {
        #expect(RecordFixtures.record(requestedFamily: 10, requestedLength: 16).requestedFamily == nil)
        #expect(RecordFixtures.record(requestedFamily: 10, requestedLength: 28).requestedFamily == AF_INET6)
        #expect(RecordFixtures.record(requestedFamily: 0, requestedLength: 16).requestedFamily == AF_INET)
        #expect(RecordFixtures.record(family: 10, requestedFamily: 0, requestedLength: 16).requestedFamily == nil)
        #expect(RecordFixtures.record(requestedFamily: 1, requestedLength: 16).requestedFamily == nil)
    }

}
