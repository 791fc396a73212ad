@testable import BindsnoopCore
import CBindsnoop
import Testing

@Suite struct DecodingTests {
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

    @Test func kernelConfigFromFilter() {
        let config = KernelFilter(pid: 42, uid: 0, cgroupPath: "/sys/fs/cgroup/x", outcome: .failure,
                                  ports: [80, 443]).kernelConfig
        #expect(config.pid == 42)
        #expect(config.uid == 0)
        #expect(config.filter_cgroup == 1)
        #expect(config.outcome == UInt8(BINDSNOOP_OUTCOME_FAILURE.rawValue))
        #expect(config.port_count == 2)
        #expect(config.ports.0 == 80 && config.ports.1 == 443)
        let open = KernelFilter().kernelConfig
        #expect(open.pid == 0 && open.uid == UInt32.max && open.port_count == 0 && open.filter_cgroup == 0)
    }

    @Test func probeSelection() {
        #expect(ProbeSelection(argument: "auto")?.candidates == [.fentry, .kprobe, .tracepoint])
        #expect(ProbeSelection(argument: "kprobe")?.candidates == [.kprobe])
        #expect(ProbeSelection(argument: "uprobe") == nil)
    }

    @Test func capabilityParsing() {
        #expect(Privileges.canLoadBPF(status: "Name:\tx\nCapEff:\t000001ffffffffff\n"))
        #expect(Privileges.canLoadBPF(status: "CapEff:\t000000c000000000\n"))  // CAP_BPF + CAP_PERFMON
        #expect(!Privileges.canLoadBPF(status: "CapEff:\t0000008000000000\n"))  // CAP_BPF alone
        #expect(!Privileges.canLoadBPF(status: "CapEff:\t0000000000000000\n"))
    }
}
