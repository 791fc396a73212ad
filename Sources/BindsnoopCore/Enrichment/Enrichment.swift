/// What bindsnoop adds to the kernel's record, as plain values: the host,
/// interface names, containers and their pods, who each process is. Each part caches its answers; `refresh()`
/// lets answers that may have changed be looked up again.
public struct Enrichment {
    public let host: HostMetadata
    public var interfaces: InterfaceNames
    public var containers: ContainerResolver
    /// Container, image and pod names from the runtimes' state files.
    public var runtimes: RuntimeState
    /// Pod and container names from the kubelet's log directories, for what
    /// the runtime's state does not say.
    public let kubelet: KubeletLogs?
    /// Executable, arguments, start and entity ids, by pid.
    public var processes: ProcessIdentities

    public init(host: HostMetadata = .current(), interfaces: InterfaceNames = InterfaceNames(),
                containers: ContainerResolver = ContainerResolver(), runtimes: RuntimeState = RuntimeState(),
                kubelet: KubeletLogs? = nil, processes: ProcessIdentities? = nil) {
        self.host = host
        self.interfaces = interfaces
        self.containers = containers
        self.runtimes = runtimes
        self.kubelet = kubelet
        self.processes = processes ?? ProcessIdentities(host: host)
    }

    /// A container's names: the runtime's state first, then the kubelet's
    /// log directories for a pod's names (both from one source) and the
    /// container's name where the runtime gave none.
    public mutating func names(of identity: ContainerIdentity) -> ContainerNames {
        var names = runtimes.names(of: identity)
        guard let uid = identity.podUID, let kubelet, names.podName == nil || names.container == nil else { return names }
        let logs = kubelet.names(podUID: uid, containerID: identity.id)
        if names.podName == nil, let pod = logs.pod {
            names.podNamespace = pod.namespace
            names.podName = pod.name
        }
        names.container = names.container ?? logs.container
        return names
    }

    /// About once a second: interfaces come and go, containers start.
    public mutating func refresh() {
        interfaces.forget()
        containers.forget()
        processes.forgetExited()
    }
}
