/// What bindsnoop adds to the kernel's record, as plain values: the host,
/// interface names, containers and their pods, who each process is. Each part caches its answers; `refresh()`
/// lets answers that may have changed be looked up again.
public struct Enrichment {
    public let host: HostMetadata
    public var interfaces: InterfaceNames
    public var containers: ContainerResolver
    /// Pod and container names from the kubelet's log directories.
    public let kubelet: KubeletLogs?
    /// Executable, arguments, start and entity ids, by pid.
    public var processes: ProcessIdentities

    public init(host: HostMetadata = .current(), interfaces: InterfaceNames = InterfaceNames(),
                containers: ContainerResolver = ContainerResolver(), kubelet: KubeletLogs? = nil,
                processes: ProcessIdentities? = nil) {
        self.host = host
        self.interfaces = interfaces
        self.containers = containers
        self.kubelet = kubelet
        self.processes = processes ?? ProcessIdentities(host: host)
    }

    /// About once a second: interfaces come and go, containers start.
    public mutating func refresh() {
        interfaces.forget()
        containers.forget()
        processes.forgetExited()
    }
}
