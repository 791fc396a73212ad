import Glibc

/// Writes binds as NDJSON lines in the shape of
/// `schemas/bind-event.v1.schema.json`. Hand-written for speed, valid by
/// construction: every string from the kernel or the system goes through
/// `appendJSONStringContents`, everything else is a number or a constant.
/// Owns the encoded forms of the enrichment's values (host, containers,
/// errno messages), so that an event pastes bytes instead of escaping them.
public struct EventEncoder {
    private let host: [UInt8]
    private let run: [UInt8]
    private let errnoMessages = JSONFragments.errnoMessages()
    private var containers = ContainerFragments()
    private var ipv6Texts = IPv6TextCache()
    private var timestamps = TimestampFormatter()

    public init(host: HostMetadata) {
        self.host = JSONFragments.host(host)
        run = JSONFragments.eventIDPrefix(host)
    }

    /// What a line says of its record: a bind or a socket of the inventory at start.
    private enum Line {
        case bind
        case inventory(InventorySocket)
    }

    /// One line for `record`, which returned at `unixNanoseconds`.
    public mutating func encode(_ record: BindRecord, at unixNanoseconds: Int64, sequence: UInt64,
                                enrichment: inout Enrichment, into out: inout OutputBuffer) {
        encode(record, line: .bind, at: unixNanoseconds, sequence: sequence, enrichment: &enrichment, into: &out)
    }

    /// One line of the inventory at start (`event.kind` `state`): a socket
    /// bound before bindsnoop started, with its owner as a bind would name it.
    public mutating func encodeInventory(_ socket: InventorySocket, at unixNanoseconds: Int64, sequence: UInt64,
                                         enrichment: inout Enrichment, into out: inout OutputBuffer) {
        encode(socket.record, line: .inventory(socket), at: unixNanoseconds, sequence: sequence, enrichment: &enrichment, into: &out)
    }

    /// One line for the release of a reported socket (`event.type` `end`),
    /// released at `unixNanoseconds` and reported at `reportedAt`: the
    /// socket, its address and its process as they were reported, and no
    /// more (the program, its arguments, the user, the request are on the
    /// bind or inventory line with the same `bind.socket_id`).
    public mutating func encodeRelease(_ release: ReleaseRecord, at unixNanoseconds: Int64, reportedAt: Int64, sequence: UInt64,
                                       enrichment: inout Enrichment, into out: inout OutputBuffer) {
        let record = release.reported
        let e = record.raw
        out.append("{\"@timestamp\":\"")
        timestamps.append(unixNanoseconds: unixNanoseconds, to: &out)
        out.appendEventAndHost("\"kind\":\"event\",\"category\":[\"network\"],\"type\":[\"end\"],\"action\":\"release\",\"outcome\":\"success\"",
                               start: reportedAt, duration: release.heldNanoseconds, run: run, sequence: sequence, host: host)
        let identity = appendProcessOpening(record, enrichment: &enrichment, into: &out)
        identity.process.withUnsafeBytes { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[identity.startOffset...])) }
        out.append("}")
        out.append(contentsOf: containers.members(cgroupID: e.cgroup_id, enrichment: &enrichment))
        appendNetworkAndServer(record, into: &out)
        out.append(",\"bind\":{\"socket_id\":")
        out.append(decimal: e.socket_inode)
        out.append(release.fromInventory ? ",\"release\":{\"reported_by\":\"inventory\"},\"socket_type\":\""
                                         : ",\"release\":{\"reported_by\":\"bind\"},\"socket_type\":\"")
        out.appendName(SocketNames.socketType(e.sock_type), orDecimal: UInt64(e.sock_type))
        out.append("\",\"cgroup_id\":")
        out.append(decimal: e.cgroup_id)
        out.append(",\"netns\":")
        out.append(decimal: UInt64(e.netns))
        out.append("}}\n")
    }

    @inline(__always)
    private mutating func encode(_ record: BindRecord, line: Line, at unixNanoseconds: Int64, sequence: UInt64,
                                 enrichment: inout Enrichment, into out: inout OutputBuffer) {
        let e = record.raw
        out.append("{\"@timestamp\":\"")
        timestamps.append(unixNanoseconds: unixNanoseconds, to: &out)
        if case .inventory = line {
            out.appendEventAndHost("\"kind\":\"state\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"inventory\"",
                                   run: run, sequence: sequence, host: host)
        } else if record.succeeded {
            out.appendEventAndHost("\"kind\":\"event\",\"category\":[\"network\"],\"type\":[\"start\"],\"action\":\"bind\",\"outcome\":\"success\"",
                                   run: run, sequence: sequence, host: host)
        } else if record.outcomeUnknown {
            out.appendEventAndHost("\"kind\":\"event\",\"category\":[\"network\"],\"type\":[\"info\"],\"action\":\"bind\",\"outcome\":\"unknown\"",
                                   run: run, sequence: sequence, host: host)
        } else {
            out.appendEventAndHost("\"kind\":\"event\",\"category\":[\"network\"],\"type\":[\"error\"],\"action\":\"bind\",\"outcome\":\"failure\"",
                                   run: run, sequence: sequence, host: host)
        }

        let identity = appendProcessOpening(record, enrichment: &enrichment, into: &out)
        out.append(contentsOf: identity.process)
        out.append(",\"thread\":{\"id\":")
        out.append(decimal: UInt64(e.tid))
        out.append(",\"name\":\"")
        record.withThreadName { out.appendJSONStringContents($0) }
        out.append("\"},\"parent\":{\"pid\":")
        out.append(decimal: UInt64(e.ppid))
        out.append(contentsOf: identity.parent)
        let names = identity.root.map { enrichment.processes.names(root: $0, uid: e.uid, gid: e.gid) }
        out.append("},\"user\":{\"id\":\"")
        out.append(decimal: UInt64(e.uid))
        out.append("\"")
        if let name = names?.user {
            out.append(",\"name\":")
            out.append(contentsOf: name)
        }
        out.append("},\"group\":{\"id\":\"")
        out.append(decimal: UInt64(e.gid))
        out.append("\"")
        if let name = names?.group {
            out.append(",\"name\":")
            out.append(contentsOf: name)
        }
        out.append("}}")
        out.append(contentsOf: containers.members(cgroupID: e.cgroup_id, enrichment: &enrichment))

        appendNetworkAndServer(record, into: &out)
        encodeBind(record, line: line, identity: identity.bind, interfaces: &enrichment.interfaces, into: &out)
        if let errno = record.errno {
            encodeError(errno, into: &out)
        }
        out.append("}\n")
    }

    /// `,"process":{"pid":…,"name":"…"`, object left open; the process's identity fragments.
    @inline(__always)
    private func appendProcessOpening(_ record: BindRecord, enrichment: inout Enrichment,
                                      into out: inout OutputBuffer) -> ProcessIdentities.Fragments {
        let e = record.raw
        return record.withProcessName { name in
            out.append(",\"process\":{\"pid\":")
            out.append(decimal: UInt64(e.pid))
            out.append(",\"name\":\"")
            out.appendJSONStringContents(name)
            out.append("\"")
            return enrichment.processes.fragments(pid: e.pid, startNanoseconds: e.start_ns, execID: e.exec_id, name: name)
        }
    }

    /// `network` and, for a socket that is bound, `server`.
    @inline(__always)
    private mutating func appendNetworkAndServer(_ record: BindRecord, into out: inout OutputBuffer) {
        let e = record.raw
        out.appendNetwork(family: record.family, transport: e.protocol)
        if e.protocol < 256 {  // IANA numbers; MPTCP's 262 is Linux's own
            out.append(",\"iana_number\":\"")
            out.append(decimal: UInt64(e.protocol))
            out.append("\"")
        }
        out.append("}")
        if record.succeeded {
            out.append(",\"server\":{\"ip\":\"")
            record.withBoundAddress { IPAddressFormat.append(family: record.family, address: $0, to: &out, cache: &ipv6Texts) }
            out.append("\",\"port\":")
            out.append(decimal: UInt64(e.bound_port))
            out.append("}")
        }
    }

    private mutating func encodeBind(_ record: BindRecord, line: Line, identity: [UInt8],
                                     interfaces: inout InterfaceNames, into out: inout OutputBuffer) {
        let e = record.raw
        switch line {
        case .inventory(let inventory):
            out.append(",\"bind\":{\"socket_id\":")
            out.append(decimal: inventory.inode)
            out.append(",\"inventory\":{\"listening\":")
            out.append(inventory.listening ? "true" : "false")
            out.append(",\"holders\":")
            out.append(decimal: UInt64(inventory.holders))
            out.append("},\"socket_type\":\"")
        case .bind:
            out.append(",\"bind\":{\"probe\":\"")
            switch record.probe {
            case .fentry: out.append("fentry")
            case .kprobe: out.append("kprobe")
            case .tracepoint: out.append("tracepoint")
            case .cgroup: out.append("cgroup")
            case nil: out.append("unknown")
            }
            if e.socket_inode != 0 {
                out.append("\",\"socket_id\":")
                out.append(decimal: e.socket_inode)
                out.append(",\"socket_type\":\"")
            } else {
                out.append("\",\"socket_type\":\"")
            }
        }
        out.appendName(SocketNames.socketType(e.sock_type), orDecimal: UInt64(e.sock_type))
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
            if let name = interfaces.name(index: e.bound_dev_if, namespace: e.netns) {
                out.append(",\"name\":")
                out.appendJSONString(name)
            }
            out.append("}")
        }
        if case .bind = line, e.ret <= 0 {  // cgroup mode never sees the result of a bind that did not bind
            out.append(",\"return_value\":")
            out.append(decimal: Int64(e.ret))
        }
        out.append(",\"cgroup_id\":")
        out.append(decimal: e.cgroup_id)
        out.append(",\"netns\":")
        out.append(decimal: UInt64(e.netns))
        out.append(contentsOf: identity)
        out.append("}")
    }

    private func encodeError(_ errno: Int32, into out: inout OutputBuffer) {
        out.append(",\"error\":{\"code\":\"")
        out.appendName(ErrnoNames.name(errno), orDecimal: Int64(errno))
        out.append("\"")
        if errno > 0, Int(errno) < errnoMessages.count, !errnoMessages[Int(errno)].isEmpty {
            out.append(",\"message\":")
            out.append(contentsOf: errnoMessages[Int(errno)])
        }
        out.append("}")
    }

    /// About once a second, with the enrichment's `refresh()`.
    public mutating func forgetFragments() {
        containers.forget()
    }
}
