/// BCC bindsnoop's human-readable columns:
/// `[TIME] [UID] PID COMM RET PROT ADDR PORT OPTS IF`, with OPTS as five
/// letters `FTNRr` (freebind, transparent, bind_address_no_port, reuseaddr,
/// reuseport) or dots. `wide` gives room for IPv6 addresses.
public struct TableEncoder {
    public var showTimestamp: Bool
    public var showUID: Bool
    public var wide: Bool

    public init(showTimestamp: Bool = false, showUID: Bool = false, wide: Bool = false) {
        self.showTimestamp = showTimestamp
        self.showUID = showUID
        self.wide = wide
    }

    private var commWidth: Int { 16 }
    private var addressWidth: Int { wide ? 39 : 15 }

    public func header(into out: inout OutputBuffer) {
        if showTimestamp { column("TIME", width: 8, into: &out) }
        if showUID { column("UID", width: 6, into: &out) }
        column("PID", width: 7, into: &out)
        column("COMM", width: commWidth, into: &out)
        column("RET", width: 12, into: &out)
        column("PROT", width: 5, into: &out)
        column("ADDR", width: addressWidth, into: &out)
        column("PORT", width: 5, into: &out)
        column("OPTS", width: 5, into: &out)
        out.append("IF\n")
    }

    /// One row for `record`, which returned at `unixNanoseconds`.
    public func encode(_ record: BindRecord, at unixNanoseconds: Int64, into out: inout OutputBuffer) {
        let e = record.raw
        if showTimestamp {
            let start = out.count
            RFC3339.appendClock(unixNanoseconds: unixNanoseconds, to: &out)
            pad(from: start, width: 8, into: &out)
        }
        if showUID { number(UInt64(e.uid), width: 6, into: &out) }
        number(UInt64(e.pid), width: 7, into: &out)
        var start = out.count
        record.withThreadName { out.appendJSONStringContents($0) }  // escapes control bytes
        pad(from: start, width: commWidth, into: &out)

        start = out.count
        if record.succeeded {
            out.append(UInt8(ascii: "0"))
        } else if record.outcomeUnknown {
            out.append("?")
        } else if let errno = record.errno {
            out.appendName(ErrnoNames.name(errno), orDecimal: Int64(e.ret))
        } else {
            out.append("FAILED")
        }
        pad(from: start, width: 12, into: &out)

        protocolColumn(e.protocol, into: &out)

        start = out.count
        if record.succeeded {
            record.withBoundAddress { IPAddressFormat.append(family: record.family, address: $0, to: &out) }
        } else if let family = record.requestedFamily {
            record.withRequestedAddress { IPAddressFormat.append(family: family, address: $0, to: &out) }
        }
        pad(from: start, width: addressWidth, into: &out)
        number(UInt64(record.succeeded ? e.bound_port : e.requested_port), width: 5, into: &out)
        for option in SocketNames.options {
            out.append(e.options & option.bit != 0 ? option.tableLetter : UInt8(ascii: "."))
        }
        out.append(UInt8(ascii: " "))
        out.append(decimal: UInt64(max(e.bound_dev_if, 0)))
        out.append(UInt8(ascii: "\n"))
    }

    /// `--count` at exit: binds per local address and port, most first.
    public func encodeCounts(_ counts: [(key: BindCounter.Key, tally: BindCounter.Tally)], into out: inout OutputBuffer) {
        column("PROT", width: 5, into: &out)
        column("LADDR", width: addressWidth, into: &out)
        column("LPORT", width: 5, into: &out)
        column("BINDS", width: 8, into: &out)
        out.append("FAILED\n")
        for (key, tally) in counts {
            protocolColumn(key.transport, into: &out)
            let address = out.count
            key.withAddress { IPAddressFormat.append(family: key.family, address: $0, to: &out) }
            pad(from: address, width: addressWidth, into: &out)
            number(UInt64(key.port), width: 5, into: &out)
            number(tally.binds, width: 8, into: &out)
            out.append(decimal: tally.failures)
            out.append(UInt8(ascii: "\n"))
        }
    }

    /// BCC's PROT column: TCP, UDP, or the protocol's name or number.
    private func protocolColumn(_ number: UInt16, into out: inout OutputBuffer) {
        let start = out.count
        switch number {
        case 6: out.append("TCP")
        case 17: out.append("UDP")
        default:
            out.appendName(SocketNames.transport(number), orDecimal: UInt64(number))
        }
        pad(from: start, width: 5, into: &out)
    }

    private func column(_ title: StaticString, width: Int, into out: inout OutputBuffer) {
        let start = out.count
        out.append(title)
        pad(from: start, width: width, into: &out)
    }

    private func number(_ value: UInt64, width: Int, into out: inout OutputBuffer) {
        let start = out.count
        out.append(decimal: value)
        pad(from: start, width: width, into: &out)
    }

    /// Left-aligned in `width` columns plus one separating space.
    private func pad(from start: Int, width: Int, into out: inout OutputBuffer) {
        for _ in 0..<max(width - (out.count - start), 0) { out.append(UInt8(ascii: " ")) }
        out.append(UInt8(ascii: " "))
    }
}
