import Glibc

/// The lines that are not binds (`event.kind` = `metric`): loss records and
/// `--count` tallies. Small and copyable (the host's bytes only), so a sink
/// can hold one to report its own losses.
public struct MetricEncoder: Sendable {
    private let host: [UInt8]

    public init(host: HostMetadata) {
        self.host = JSONFragments.host(host)
    }

    /// The in-band record of events that never became lines. `source` is
    /// `kernel` (ring buffer full; the record takes the next sequence number)
    /// or a sink's name (its buffer overflowed; the record goes to that sink
    /// only, carries no sequence of its own, and names the range it lost).
    public func encodeLoss(source: String, lost: UInt64, total: UInt64, unixNanoseconds: Int64,
                           sequence: UInt64?, range: ClosedRange<UInt64>? = nil, into out: inout OutputBuffer) {
        out.append("{\"@timestamp\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        out.appendEventAndHost("\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"events-lost\"",
                               sequence: sequence, host: host)
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
        out.appendEventAndHost("\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"bind-count\"",
                               sequence: sequence, host: host)
        out.appendNetwork(family: key.family, transport: key.transport)
        out.append("},\"server\":{\"ip\":\"")
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
