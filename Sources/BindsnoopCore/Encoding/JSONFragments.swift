import Glibc

// Pieces of JSON that every line (or many lines) repeat, built once from the
// enrichment's values and pasted in as bytes.

extension OutputBuffer {
    /// What follows the timestamp in every line:
    /// `","event":{…,"id":"RUN-N","sequence":N},"host":{…}`, the members of
    /// `event` up to the id given as one literal, `run` as `eventIDPrefix` made it.
    @inline(__always)
    mutating func appendEventAndHost(_ event: StaticString, run: [UInt8], sequence: UInt64, host: [UInt8]) {
        append("\",\"event\":{")
        append(event)
        appendIDAndHost(run: run, sequence: sequence, host: host)
    }

    /// The same for a span of time (a release): `event.start` and
    /// `event.duration` (nanoseconds, as ECS has it) after `event`.
    mutating func appendEventAndHost(_ event: StaticString, start unixNanoseconds: Int64, duration: UInt64, run: [UInt8],
                                     sequence: UInt64, host: [UInt8]) {
        append("\",\"event\":{")
        append(event)
        append(",\"start\":\"")
        RFC3339.append(unixNanoseconds: unixNanoseconds, to: &self)
        append("\",\"duration\":")
        append(decimal: duration)
        appendIDAndHost(run: run, sequence: sequence, host: host)
    }

    @inline(__always)
    private mutating func appendIDAndHost(run: [UInt8], sequence: UInt64, host: [UInt8]) {
        append(contentsOf: run)
        append(decimal: sequence)
        append("\",\"sequence\":")
        append(decimal: sequence)
        append("},")
        append(contentsOf: host)
    }

    /// The same for a sink's record of its own drops, which has no sequence:
    /// its id is `RUN-SINK-FIRST-LAST`, the range it reports.
    mutating func appendEventAndHost(_ event: StaticString, run: [UInt8], sink: String, range: ClosedRange<UInt64>,
                                     host: [UInt8]) {
        append("\",\"event\":{")
        append(event)
        append(contentsOf: run)
        var name = sink
        name.withUTF8 { appendJSONStringContents(UnsafeRawBufferPointer($0)) }
        append("-")
        append(decimal: range.lowerBound)
        append("-")
        append(decimal: range.upperBound)
        append("\"},")
        append(contentsOf: host)
    }

    /// `,"network":{"type":"ipv4"|"ipv6","transport":"tcp"|…`, object left open.
    mutating func appendNetwork(family: Int32, transport: UInt16) {
        append(family == AF_INET6 ? ",\"network\":{\"type\":\"ipv6\",\"transport\":\"" : ",\"network\":{\"type\":\"ipv4\",\"transport\":\"")
        appendName(SocketNames.transport(transport), orDecimal: UInt64(transport))
        append("\"")
    }

    /// `prefix` (up to the member's colon) and `value` as a JSON string; nothing for nil.
    mutating func appendMember(_ prefix: StaticString, _ value: String?) {
        guard let value else { return }
        append(prefix)
        appendJSONString(value)
    }

    /// A known name, or the number where there is none.
    @inline(__always)
    mutating func appendName(_ name: StaticString?, orDecimal number: UInt64) {
        if let name { append(name) } else { append(decimal: number) }
    }

    mutating func appendName(_ name: StaticString?, orDecimal number: Int64) {
        if let name { append(name) } else { append(decimal: number) }
    }
}

enum JSONFragments {
    /// `"host":{...}`.
    /// `,"id":"RUN-`: what every event.id starts with.
    static func eventIDPrefix(_ host: HostMetadata) -> [UInt8] {
        Array(",\"id\":\"\(host.runID)-".utf8)
    }

    static func host(_ host: HostMetadata) -> [UInt8] {
        var out = OutputBuffer(capacity: 256)
        out.appendMember("\"host\":{\"name\":", host.name)
        out.appendMember(",\"id\":", host.machineID)
        if let bootID = host.bootID {
            out.append(",\"boot\":{\"id\":")
            out.appendJSONString(bootID)
            out.append("}")
        }
        out.append(",\"os\":{\"type\":\"linux\",\"kernel\":")
        out.appendJSONString(host.kernelRelease)
        out.append("},\"architecture\":")
        out.appendJSONString(host.architecture)
        out.append("}")
        return out.bytes
    }

    /// `,"container":{…}[,"orchestrator":{…}]`; empty for no container.
    /// The pod's names only for a pod (a cgroup path under kubepods).
    static func container(_ identity: ContainerIdentity?, names: ContainerNames = ContainerNames()) -> [UInt8] {
        guard let identity else { return [] }
        var out = OutputBuffer(capacity: 256)
        out.appendMember(",\"container\":{\"id\":", identity.id)
        if let image = names.image {
            out.appendMember(",\"image\":{\"name\":", image)
            out.append("}")
        }
        out.appendMember(",\"name\":", names.container)
        out.appendMember(",\"runtime\":", identity.runtime)
        out.append("}")
        if let pod = identity.podUID {
            out.append(",\"orchestrator\":{\"type\":\"kubernetes\"")
            out.appendMember(",\"namespace\":", names.podNamespace)
            out.append(",\"resource\":{\"type\":\"pod\",\"id\":")
            out.appendJSONString(pod)
            out.appendMember(",\"name\":", names.podName)
            out.append("}}")
        }
        return out.bytes
    }

    /// Every errno message as a JSON string, quotes included, by number.
    static func errnoMessages() -> [[UInt8]] {
        (0..<ErrnoNames.names.count).map { number in
            guard let message = ErrnoNames.message(Int32(number)) else { return [] }
            var out = OutputBuffer(capacity: 64)
            out.appendJSONString(message)
            return out.bytes
        }
    }
}

/// The container members of each cgroup id seen, as bytes: a bind storm
/// comes from few cgroups, and the last answer spares it a hash lookup.
struct ContainerFragments {
    private var encoded: [UInt64: [UInt8]] = [:]
    private var last: (cgroupID: UInt64, members: [UInt8])?

    @inline(__always)
    mutating func members(cgroupID: UInt64, enrichment: inout Enrichment) -> [UInt8] {
        if let last, last.cgroupID == cgroupID { return last.members }
        let members = lookUp(cgroupID: cgroupID, enrichment: &enrichment)
        last = (cgroupID, members)
        return members
    }

    private mutating func lookUp(cgroupID: UInt64, enrichment: inout Enrichment) -> [UInt8] {
        if let cached = encoded[cgroupID] { return cached }
        let identity = enrichment.containers.identity(cgroupID: cgroupID)
        let members = JSONFragments.container(identity, names: identity.map { enrichment.names(of: $0) } ?? ContainerNames())
        encoded[cgroupID] = members
        return members
    }

    /// With the resolver's `forget()`: an id without a container may have one now.
    mutating func forget() {
        last = nil
        encoded.removeAll(keepingCapacity: encoded.count <= 4096)
    }
}
