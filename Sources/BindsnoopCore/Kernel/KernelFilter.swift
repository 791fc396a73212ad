import CBindsnoop

/// What the kernel program drops before an event reaches the ring buffer.
public struct KernelFilter: Sendable, Equatable {
    public var pid: UInt32?
    public var uid: UInt32?
    /// A cgroup v2 directory: only tasks in it or below it.
    public var cgroupPath: String?
    public var outcome: OutcomeFilter
    /// Requested or bound port; at most `maxPorts`.
    public var ports: [UInt16]

    public static let maxPorts = Int(BINDSNOOP_MAX_PORTS)

    public init(pid: UInt32? = nil, uid: UInt32? = nil, cgroupPath: String? = nil,
                outcome: OutcomeFilter = .all, ports: [UInt16] = []) {
        self.pid = pid
        self.uid = uid
        self.cgroupPath = cgroupPath
        self.outcome = outcome
        self.ports = ports
    }

    /// The `config` the kernel program reads (`const volatile`, set before load).
    var kernelConfig: bindsnoop_config {
        var config = bindsnoop_config()
        config.pid = pid ?? 0
        config.uid = uid ?? UInt32.max
        config.filter_cgroup = cgroupPath == nil ? 0 : 1
        switch outcome {
        case .all: config.outcome = UInt8(BINDSNOOP_OUTCOME_ALL.rawValue)
        case .success: config.outcome = UInt8(BINDSNOOP_OUTCOME_SUCCESS.rawValue)
        case .failure: config.outcome = UInt8(BINDSNOOP_OUTCOME_FAILURE.rawValue)
        }
        let selected = ports.prefix(Self.maxPorts)
        config.port_count = UInt16(selected.count)
        withUnsafeMutableBytes(of: &config.ports) { raw in
            let slots = raw.bindMemory(to: UInt16.self)
            for (i, port) in selected.enumerated() { slots[i] = port }
        }
        return config
    }
}

public enum OutcomeFilter: String, CaseIterable, Sendable {
    case all, success, failure
}
