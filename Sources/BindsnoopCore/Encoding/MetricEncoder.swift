import Glibc

/// The lines that are not binds (`event.kind` = `metric`): loss records and
/// `--count` tallies. Small and copyable (the host's bytes only), so a sink
/// can hold one to report its own losses.
public struct MetricEncoder: Sendable {
    private let host: [UInt8]
    private let run: [UInt8]
    /// `,"agent":{"ephemeral_id":"RUN"}`: a heartbeat names the run.
    private let agent: [UInt8]

    public init(host: HostMetadata) {
        self.host = JSONFragments.host(host)
        run = JSONFragments.eventIDPrefix(host)
        agent = Array(",\"agent\":{\"ephemeral_id\":\"\(host.runID)\"}".utf8)
    }

    /// The in-band record of events that never became lines. `source` is
    /// `kernel` (ring buffer full; the record takes the next sequence number)
    /// or a sink's name (it could not deliver them; the record goes to that
    /// sink only, carries no sequence of its own, names the range it lost
    /// and the `reason`: `buffer_full`, or the errno of a failed write).
    public func encodeLoss(source: String, reason: String? = nil, lost: UInt64, total: UInt64, unixNanoseconds: Int64,
                           sequence: UInt64?, range: ClosedRange<UInt64>? = nil, into out: inout OutputBuffer) {
        out.append("{\"@timestamp\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        if let sequence {
            out.appendEventAndHost("\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"events-lost\"",
                                   run: run, sequence: sequence, host: host)
        } else {
            out.appendEventAndHost("\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"events-lost\"",
                                   run: run, sink: source, range: range ?? 0...0, host: host)
        }
        out.append(",\"bind\":{\"lost\":{\"source\":")
        out.appendJSONString(source)
        if let reason {
            out.append(",\"reason\":")
            out.appendJSONString(reason)
        }
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
                               run: run, sequence: sequence, host: host)
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

    /// One process's binds the rate limit held back since its last record.
    /// `name`: the process's comm, up to its first NUL.
    func encodeRateLimited(pid: UInt32, name: [UInt8], suppressed: UInt64, limit: UInt32, unixNanoseconds: Int64, sequence: UInt64,
                           into out: inout OutputBuffer) {
        out.append("{\"@timestamp\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        out.appendEventAndHost("\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"rate-limited\"",
                               run: run, sequence: sequence, host: host)
        out.append(",\"process\":{\"pid\":")
        out.append(decimal: UInt64(pid))
        out.append(",\"name\":\"")
        name.withUnsafeBytes { out.appendJSONStringContents($0) }
        out.append("\"},\"bind\":{\"rate_limit\":{\"suppressed\":")
        out.append(decimal: suppressed)
        out.append(",\"per_second\":")
        out.append(decimal: UInt64(limit))
        out.append("}}}\n")
    }

    /// The agent's own health, in band: counters since the last heartbeat and since start.
    public func encodeHeartbeat(_ heartbeat: Heartbeat, unixNanoseconds: Int64, sequence: UInt64, into out: inout OutputBuffer) {
        out.append("{\"@timestamp\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &out)
        out.appendEventAndHost("\"kind\":\"metric\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"heartbeat\"",
                               run: run, sequence: sequence, host: host)
        out.append(contentsOf: agent)
        out.append(",\"bind\":{\"probe\":")
        out.appendJSONString(heartbeat.probe.rawValue)
        out.append(",\"heartbeat\":{\"interval\":")
        out.append(decimal: UInt64(heartbeat.interval.rounded()))
        out.append(",\"uptime\":")
        out.append(decimal: UInt64(max(heartbeat.uptime, 0).rounded()))
        switch heartbeat.now.selfCheck {
        case .passed:
            out.append(",\"self_check\":{\"passed\":true}")
        case .failed(let programs):
            out.append(",\"self_check\":{\"passed\":false,\"programs\":[")
            for (i, program) in programs.enumerated() {
                if i > 0 { out.append(",") }
                out.appendJSONString(program)
            }
            out.append("]}")
        }
        out.append(",\"events\":")
        appendCounts(heartbeat.sincePrevious, to: &out)
        out.append(",\"totals\":")
        appendCounts(heartbeat.now.events, to: &out)
        out.append(",\"sinks\":{")
        for (i, sink) in heartbeat.now.sinks.enumerated() {
            if i > 0 { out.append(",") }
            out.appendJSONString(sink.name)
            out.append(":{\"lines\":")
            out.append(decimal: sink.statistics.lines)
            out.append(",\"lost\":")
            out.append(decimal: sink.statistics.lost)
            out.append("}")
        }
        out.append("}}}}\n")
    }

    private func appendCounts(_ counts: Telemetry.Counts, to out: inout OutputBuffer) {
        out.append("{\"read\":")
        out.append(decimal: counts.read)
        out.append(",\"lost\":")
        out.append(decimal: counts.lost)
        out.append(",\"rate_limited\":")
        out.append(decimal: counts.rateLimited)
        out.append(",\"malformed\":")
        out.append(decimal: counts.malformed)
        out.append("}")
    }
}
