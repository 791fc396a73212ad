#if canImport(Glibc)
import Glibc
#endif

/// Writes events as NDJSON lines in the shape of
/// `schemas/bind-event.v1.schema.json`. Hand-written for speed, valid by
/// construction: every string from the kernel goes through
/// `appendJSONStringContents`, everything else is a number or a constant.
public struct EventEncoder {
    private let host: [UInt8]
    private let errnos = ErrnoNames()
    public var interfaces: InterfaceNames
    public var containers: ContainerNames
    public var clock: WallClock
    private var ipv6Texts = IPv6TextCache()
    private var timestamps = TimestampFormatter()

    public init(host: HostMetadata, interfaces: InterfaceNames = InterfaceNames(),
                containers: ContainerNames = ContainerNames(), clock: WallClock = .current()) {
        self.host = host.encodedJSONMember
        self.interfaces = interfaces
        self.containers = containers
        self.clock = clock
    }

    public mutating func encode(_ record: BindRecord, sequence: UInt64, into out: inout OutputBuffer) {
        let e = record.raw
        out.append("{\"@timestamp\":\"")
        timestamps.append(unixNanoseconds: clock.unixNanoseconds(bootNanoseconds: e.boot_ns), to: &out)
        out.append("\",\"event\":{\"kind\":\"event\",\"category\":[\"network\"],\"type\":[\"")
        out.append(record.succeeded ? "start\"],\"action\":\"bind\",\"outcome\":\"success\"" : "error\"],\"action\":\"bind\",\"outcome\":\"failure\"")
        out.append(",\"sequence\":")
        out.append(decimal: sequence)
        out.append("},")
        out.append(contentsOf: host)

        out.append(",\"process\":{\"pid\":")
        out.append(decimal: UInt64(e.pid))
        out.append(",\"name\":\"")
        record.withProcessName { out.appendJSONStringContents($0) }
        out.append("\",\"thread\":{\"id\":")
        out.append(decimal: UInt64(e.tid))
        out.append(",\"name\":\"")
        record.withThreadName { out.appendJSONStringContents($0) }
        out.append("\"},\"parent\":{\"pid\":")
        out.append(decimal: UInt64(e.ppid))
        out.append("},\"user\":{\"id\":\"")
        out.append(decimal: UInt64(e.uid))
        out.append("\"},\"group\":{\"id\":\"")
        out.append(decimal: UInt64(e.gid))
        out.append("\"}}")
        out.append(contentsOf: containers.encodedMembers(cgroupID: e.cgroup_id))

        encodeNetwork(record, into: &out)
        if record.succeeded {
            out.append(",\"server\":{\"ip\":\"")
            record.withBoundAddress { IPAddressFormat.append(family: record.family, address: $0, to: &out, cache: &ipv6Texts) }
            out.append("\",\"port\":")
            out.append(decimal: UInt64(e.bound_port))
            out.append("}")
        }
        encodeBind(record, into: &out)
        if !record.succeeded {
            encodeError(record, into: &out)
        }
        out.append("}\n")
    }

    private func encodeNetwork(_ record: BindRecord, into out: inout OutputBuffer) {
        let e = record.raw
        out.append(record.family == AF_INET6 ? ",\"network\":{\"type\":\"ipv6\",\"transport\":\"" : ",\"network\":{\"type\":\"ipv4\",\"transport\":\"")
        if let name = SocketNames.transport(e.protocol) {
            out.append(name)
        } else {
            out.append(decimal: UInt64(e.protocol))
        }
        out.append("\"")
        if e.protocol < 256 {  // IANA numbers; MPTCP's 262 is Linux's own
            out.append(",\"iana_number\":\"")
            out.append(decimal: UInt64(e.protocol))
            out.append("\"")
        }
        out.append("}")
    }

    private mutating func encodeBind(_ record: BindRecord, into out: inout OutputBuffer) {
        let e = record.raw
        out.append(",\"bind\":{\"probe\":\"")
        switch record.probe {
        case .fentry: out.append("fentry")
        case .kprobe: out.append("kprobe")
        case .tracepoint: out.append("tracepoint")
        case nil: out.append("unknown")
        }
        out.append("\",\"socket_type\":\"")
        if let type = SocketNames.socketType(e.sock_type) {
            out.append(type)
        } else {
            out.append(decimal: UInt64(e.sock_type))
        }
        out.append("\"")
        if record.hasRequestedPort {
            out.append(",\"requested\":{")
            if let family = record.requestedFamily {
                out.append("\"ip\":\"")
                record.withRequestedAddress { IPAddressFormat.append(family: family, address: $0, to: &out, cache: &ipv6Texts) }
                out.append("\",")
            }
            out.append("\"port\":")
            out.append(decimal: UInt64(e.requested_port))
            out.append("}")
        }
        out.append(",\"options\":[")
        var first = true
        for option in SocketNames.options where e.options & option.bit != 0 {
            if !first { out.append(",") }
            first = false
            out.append("\"")
            out.append(option.name)
            out.append("\"")
        }
        out.append("]")
        if e.bound_dev_if > 0 {
            out.append(",\"interface\":{\"index\":")
            out.append(decimal: UInt64(e.bound_dev_if))
            if let name = interfaces.encodedName(index: e.bound_dev_if, namespace: e.netns) {
                out.append(",\"name\":")
                out.append(contentsOf: name)
            }
            out.append("}")
        }
        out.append(",\"return_value\":")
        out.append(decimal: Int64(e.ret))
        out.append(",\"cgroup_id\":")
        out.append(decimal: e.cgroup_id)
        out.append(",\"netns\":")
        out.append(decimal: UInt64(e.netns))
        out.append("}")
    }

    private func encodeError(_ record: BindRecord, into out: inout OutputBuffer) {
        out.append(",\"error\":{\"code\":\"")
        if let name = ErrnoNames.name(record.errno) {
            out.append(name)
        } else {
            out.append(decimal: Int64(record.errno))
        }
        out.append("\"")
        if let message = errnos.encodedMessage(record.errno) {
            out.append(",\"message\":")
            out.append(contentsOf: message)
        }
        out.append("}")
    }
}

extension EventEncoder {
    /// The in-band record of events that never became lines. `source` is
    /// `kernel` (ring buffer full; the record takes the next sequence number)
    /// or a sink's name (its buffer overflowed; the record goes to that sink
    /// only, carries no sequence of its own, and names the range it lost).
    public func encodeLoss(source: String, lost: UInt64, total: UInt64, unixNanoseconds: Int64,
                           sequence: UInt64?, range: ClosedRange<UInt64>? = nil, into out: inout OutputBuffer) {
        out.append("{\"@timestamp\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        out.append("\",\"event\":{\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"events-lost\"")
        if let sequence {
            out.append(",\"sequence\":")
            out.append(decimal: sequence)
        }
        out.append("},")
        out.append(contentsOf: host)
        out.append(",\"bind\":{\"lost\":{\"source\":")
        out.appendJSONString(source)
        out.append(",\"events\":")
        out.append(decimal: lost)
        out.append(",\"total\":")
        out.append(decimal: total)
        if let range {
            out.append(",\"first_sequence\":")
            out.append(decimal: range.lowerBound)
            out.append(",\"last_sequence\":")
            out.append(decimal: range.upperBound)
        }
        out.append("}}}\n")
    }

    /// One `--count` line: binds to one local address and port during the run.
    public func encodeCount(_ key: BindCounter.Key, _ tally: BindCounter.Tally, unixNanoseconds: Int64, sequence: UInt64,
                            into out: inout OutputBuffer) {
        out.append("{\"@timestamp\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        out.append("\",\"event\":{\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"bind-count\",\"sequence\":")
        out.append(decimal: sequence)
        out.append("},")
        out.append(contentsOf: host)
        out.append(key.family == AF_INET6 ? ",\"network\":{\"type\":\"ipv6\",\"transport\":\"" : ",\"network\":{\"type\":\"ipv4\",\"transport\":\"")
        if let name = SocketNames.transport(key.transport) { out.append(name) } else { out.append(decimal: UInt64(key.transport)) }
        out.append("\"},\"server\":{\"ip\":\"")
        key.withAddress { IPAddressFormat.append(family: key.family, address: $0, to: &out) }
        out.append("\",\"port\":")
        out.append(decimal: UInt64(key.port))
        out.append("},\"bind\":{\"count\":{\"binds\":")
        out.append(decimal: tally.binds)
        out.append(",\"failures\":")
        out.append(decimal: tally.failures)
        out.append("}}}\n")
    }
}
