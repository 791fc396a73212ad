import BindsnoopCore
import CBindsnoop
import Glibc
import MallocInterposerSwift

// The user-space hot path per event: the session's own Reader, fed ring-buffer
// samples (raw bytes) → BindRecord → enrichment → NDJSON into the reused line
// buffer, drained whenever the reader says a batch is full (as the session
// writes one batch to the sinks). Prints events/s (median of the runs) and
// malloc calls per event.

let eventsPerRun = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 2_000_000
let runs = CommandLine.arguments.count > 1 ? 1 : 7

/// Three shapes in turn: a TCP/IPv4 success, a UDP/IPv6 success with options
/// and a device, a failure with a hostile comm (quotes, control bytes, bad UTF-8).
func samples() -> [[UInt8]] {
    func record(family: UInt16, proto: UInt16, type: UInt16, ret: Int32, address: [UInt8], port: UInt16,
                options: UInt8, device: Int32, comm: [UInt8]) -> [UInt8] {
        var e = bind_event()
        e.boot_ns = 5_000_000_000
        e.cgroup_id = 4242
        (e.pid, e.tid, e.ppid, e.uid, e.gid) = (31337, 31338, 1, 1000, 1000)
        e.netns = 4026531840
        e.ret = ret
        e.bound_dev_if = device
        (e.family, e.protocol, e.sock_type) = (family, proto, type)
        (e.requested_family, e.requested_port, e.requested_len) = (family, port, family == 10 ? 28 : 16)
        e.bound_port = ret == 0 ? (port == 0 ? 40123 : port) : 0
        e.options = options
        e.probe = UInt8(BINDSNOOP_PROBE_TRACEPOINT.rawValue)
        withUnsafeMutableBytes(of: &e.requested_addr) { $0.copyBytes(from: address) }
        withUnsafeMutableBytes(of: &e.bound_addr) { $0.copyBytes(from: address) }
        withUnsafeMutableBytes(of: &e.comm) { $0.copyBytes(from: comm.prefix(15)) }
        withUnsafeMutableBytes(of: &e.process_comm) { $0.copyBytes(from: comm.prefix(15)) }
        return withUnsafeBytes(of: e) { Array($0) }
    }
    let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    return [
        record(family: 2, proto: 6, type: 1, ret: 0, address: [10, 0, 0, 7], port: 8080, options: 0b1000,
               device: 0, comm: Array("nginx".utf8)),
        record(family: 10, proto: 17, type: 2, ret: 0, address: v6, port: 0, options: 0b11001, device: 1,
               comm: Array("dnsmasq".utf8)),
        record(family: 2, proto: 6, type: 1, ret: -98, address: [0, 0, 0, 0], port: 443, options: 0,
               device: 0, comm: [0x22, 0x5c, 0x01, 0xff, 0xfe, 0x41, 0x0a, 0x7f]),
    ]
}

/// The reader in a struct held in a local variable (as the session holds it),
/// so exclusivity is checked at compile time.
struct Bench: ~Copyable {
    let records = samples()
    var reader = Reader(mode: .json, enrichment: Enrichment(
        host: .current(), interfaces: InterfaceNames(networkNamespace: 4026531840, lookup: { _ in "lo" }),
        containers: ContainerResolver(hierarchy: nil)))
    var bytesEncoded = 0

    mutating func run(_ events: Int) {
        for i in 0..<events {
            let verdict = records[i % records.count].withUnsafeBytes { reader.handle($0) }
            if verdict == Reader.batchFull { drain() }
        }
        drain()
    }

    private mutating func drain() {
        var bytes = 0
        reader.drain { (lines: LineBatch) in bytes = lines.bytes.count }
        bytesEncoded &+= bytes
    }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func measure() {
    var bench = Bench()
    bench.run(100_000)  // warm caches and the buffer's capacity

    MallocInterposerSwift.initialize()
    MallocInterposerSwift.hook()
    bench.run(1_000_000)
    MallocInterposerSwift.unhook()
    let allocations = MallocInterposerSwift.getStatistics()

    var rates: [Double] = []
    for _ in 0..<runs {
        let start = now()
        bench.run(eventsPerRun)
        rates.append(Double(eventsPerRun) / (now() - start))
    }
    rates.sort()
    let median = rates[runs / 2]
    print("encode-bench: the reader (decode + enrich + encode + batch), one core, \(runs) runs of \(eventsPerRun) events")
    print(String(format: "  events/s        median %.2f M (min %.2f M, max %.2f M)", median / 1e6, rates[0] / 1e6, rates[runs - 1] / 1e6))
    print(String(format: "  ns/event        %.0f", 1e9 / median))
    print(String(format: "  bytes/event     %.0f", Double(bench.bytesEncoded) / Double(runs * eventsPerRun + 1_100_000)))
    print(String(format: "  mallocs/event   %.4f (%lld in 1000000 events)", Double(allocations.mallocCount) / 1e6, allocations.mallocCount))
}

measure()
