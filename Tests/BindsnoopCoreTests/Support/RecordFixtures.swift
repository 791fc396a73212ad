@testable import BindsnoopCore
import CBindsnoop
import Foundation

/// Builds kernel records by hand, the way bpf/bindsnoop.bpf.c fills them.
enum RecordFixtures {
    /// The package's directory (the tests read its docs and deploy files).
    static let repository: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appending(path: "Package.swift").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    static func record(
        family: UInt16 = 2, protocolNumber: UInt16 = 6, sockType: UInt16 = 1,
        ret: Int32 = 0, requestedFamily: UInt16 = 2, requestedPort: UInt16 = 8080, requestedLength: UInt16 = 16,
        requestedAddress: [UInt8] = [127, 0, 0, 1], boundAddress: [UInt8] = [127, 0, 0, 1], boundPort: UInt16 = 8080,
        options: UInt8 = 0, boundDevice: Int32 = 0, netns: UInt32 = 4026531840, comm: [UInt8] = Array("nginx".utf8),
        processComm: [UInt8]? = nil, probe: UInt8 = UInt8(BINDSNOOP_PROBE_TRACEPOINT.rawValue)
    ) -> BindRecord {
        var e = bind_event()
        e.boot_ns = 1_000_000_000
        e.cgroup_id = 42
        e.pid = 1234
        e.tid = 1235
        e.ppid = 1
        e.uid = 1000
        e.gid = 1000
        e.netns = netns
        e.ret = ret
        e.bound_dev_if = boundDevice
        e.family = family
        e.protocol = protocolNumber
        e.sock_type = sockType
        e.bound_port = boundPort
        e.requested_family = requestedFamily
        e.requested_port = requestedPort
        e.requested_len = requestedLength
        e.options = options
        e.probe = probe
        withUnsafeMutableBytes(of: &e.requested_addr) { $0.copyBytes(from: requestedAddress.prefix(16)) }
        withUnsafeMutableBytes(of: &e.bound_addr) { $0.copyBytes(from: boundAddress.prefix(16)) }
        withUnsafeMutableBytes(of: &e.comm) { $0.copyBytes(from: comm.prefix(16)) }
        withUnsafeMutableBytes(of: &e.process_comm) { $0.copyBytes(from: (processComm ?? comm).prefix(16)) }
        return BindRecord(raw: e)
    }

    static let host = HostMetadata(name: "node-1", machineID: "0123456789abcdef0123456789abcdef",
                                   bootID: "8be90029-35c9-4fc7-9419-9449a4172780", kernelRelease: "6.12.0",
                                   architecture: "x86_64")

    /// Fixed host and interface names, no container lookups.
    static func enrichment() -> Enrichment {
        Enrichment(host: host, interfaces: InterfaceNames(networkNamespace: 4026531840, lookup: { $0 == 1 ? "lo" : nil }),
                   containers: ContainerResolver(hierarchy: nil),
                   processes: ProcessIdentities(host: host, procRoot: "/nonexistent", clock: clock))
    }

    /// A fixed clock: boot time 1 s = 2026-01-01T00:00:01Z.
    static let clock = WallClock(offsetNanoseconds: 1_767_225_600_000_000_000)

    /// The NDJSON encoder with `enrichment()` and `clock`.
    struct Encoder {
        var encoder = EventEncoder(host: RecordFixtures.host)
        var enrichment = RecordFixtures.enrichment()

        mutating func encode(_ record: BindRecord, sequence: UInt64 = 1) -> [UInt8] {
            var out = OutputBuffer()
            encoder.encode(record, at: clock.unixNanoseconds(bootNanoseconds: record.raw.boot_ns), sequence: sequence,
                           enrichment: &enrichment, into: &out)
            return out.bytes
        }
    }

    /// Encodes one record and parses it back with Foundation's JSON parser.
    static func encodeAndParse(_ record: BindRecord, sequence: UInt64 = 1) throws -> (String, [String: Any]) {
        var encoder = Encoder()
        let bytes = encoder.encode(record, sequence: sequence)
        let line = String(decoding: bytes, as: UTF8.self)
        let object = try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any]
        return (line, object ?? [:])
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `event["process.thread.name"]`-style access for assertions.
    func path(_ dotted: String) -> Any? {
        var current: Any? = self
        for key in dotted.split(separator: ".") {
            current = (current as? [String: Any])?[String(key)]
        }
        return current
    }
}
