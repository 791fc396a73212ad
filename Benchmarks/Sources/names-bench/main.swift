import BindsnoopCore
import Foundation
import Glibc

// What naming a container costs on its first bind (issue 24), and on every
// later one: state trees shaped as each runtime writes its own, with
// `containers` containers each (bundles of `specBytes`, the size of a
// Kubernetes container's OCI spec), and a kubelet log directory of as many
// pods. Prints, per source, the median and the 99th percentile of a first
// lookup (a new container id, the files read and parsed) and the mean of a
// lookup of a known id (the cache). No root needed.
// Usage: names-bench [CONTAINERS] [SPEC_BYTES]

let containers = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 200
let specBytes = CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 16_384
let root = FileManager.default.temporaryDirectory.appending(path: "names-bench-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: root) }

func hexID(_ n: Int) -> String { String(format: "%064x", n + 1) }
func podUID(_ n: Int) -> String { String(format: "00000000-0000-4000-8000-%012x", n + 1) }
func write(_ data: Data, _ path: String) {
    try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try! data.write(to: URL(fileURLWithPath: path))
}
/// An OCI spec padded to `specBytes` with environment variables, as a pod's container has.
func spec(_ annotations: [String: String]) -> Data {
    var env: [String] = []
    var size = 0
    while size < specBytes - 600 { env.append("SERVICE_\(env.count)_PORT=tcp://10.96.0.\(env.count % 250):8080"); size += 44 }
    return try! JSONSerialization.data(withJSONObject: ["ociVersion": "1.1.0", "process": ["args": ["/app"], "env": env], "annotations": annotations])
}

var podmanList: [[String: Any]] = []
for n in 0..<containers {
    let id = hexID(n)
    write(spec(["io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "app",
                "io.kubernetes.cri.image-name": "registry.example/app:\(n)", "io.kubernetes.cri.sandbox-name": "app-\(n)",
                "io.kubernetes.cri.sandbox-namespace": "shop"]),
          "\(root)/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(id)/config.json")
    write(spec(["io.kubernetes.cri-o.ContainerType": "container", "io.kubernetes.container.name": "app",
                "io.kubernetes.cri-o.ImageName": "registry.example/app:\(n)", "io.kubernetes.pod.name": "app-\(n)",
                "io.kubernetes.pod.namespace": "shop"]),
          "\(root)/run/containers/storage/overlay-containers/\(id)/userdata/config.json")
    write(try! JSONSerialization.data(withJSONObject: ["ID": id, "Name": "/app-\(n)", "Config": ["Image": "app:\(n)", "Env": (0..<40).map { "V\($0)=x" }, "Labels": [:]]]),
          "\(root)/var/lib/docker/containers/\(id)/config.v2.json")
    podmanList.append(["id": id, "names": ["app-\(n)"], "image": String(repeating: "5", count: 64), "layer": String(repeating: "6", count: 64),
                       "metadata": "{\"image-name\":\"localhost/app:\(n)\",\"image-id\":\"\(String(repeating: "5", count: 64))\",\"name\":\"app-\(n)\",\"created-at\":1764979200}",
                       "created": "2026-12-07T22:00:00Z", "flags": ["MountLabel": "", "ProcessLabel": ""]])
    let logs = "\(root)/var/log/pods/shop_app-\(n)_\(podUID(n))/app"
    try! FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
    try! FileManager.default.createDirectory(atPath: "\(root)/var/log/containers", withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: "\(root)/var/log/containers/app-\(n)_shop_app-\(id).log", contents: nil)
}
write(try! JSONSerialization.data(withJSONObject: podmanList), "\(root)/var/lib/containers/storage/overlay-containers/containers.json")

func now() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}
func report(_ source: String, first: [UInt64], known: Double) {
    let sorted = first.sorted()
    let median = Double(sorted[sorted.count / 2]) / 1000
    let p99 = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1000
    print(String(format: "%-14@ first lookup: median %7.1f us, p99 %7.1f us (%d containers); known id: %5.0f ns", source as NSString, median, p99, containers, known))
}

for runtime in ["containerd", "cri-o", "docker", "podman"] {
    var state = RuntimeState(root: root)
    var first: [UInt64] = []
    for n in 0..<containers {
        let identity = ContainerIdentity(id: hexID(n), runtime: runtime, podUID: nil)
        let start = now()
        let names = state.names(of: identity)
        first.append(now() - start)
        precondition(names.container != nil && names.image != nil, "\(runtime): no names for \(n)")
    }
    let repeats = 200_000
    let start = now()
    for i in 0..<repeats { _ = state.names(of: ContainerIdentity(id: hexID(i % containers), runtime: runtime, podUID: nil)) }
    report(runtime, first: first, known: Double(now() - start) / Double(repeats))
}

// The kubelet's log directories, read at start when empty; then pods come
// one by one (each one's directory and link made, then its first bind): each
// first sighting lists both directories, holding the pods so far.
let late = "\(root)/late"
try! FileManager.default.createDirectory(atPath: "\(late)/pods", withIntermediateDirectories: true)
try! FileManager.default.createDirectory(atPath: "\(late)/containers", withIntermediateDirectories: true)
let kubelet = KubeletLogs(root: late)
var firstLogs: [UInt64] = []
for n in 0..<containers {
    try! FileManager.default.moveItem(atPath: "\(root)/var/log/pods/shop_app-\(n)_\(podUID(n))", toPath: "\(late)/pods/shop_app-\(n)_\(podUID(n))")
    try! FileManager.default.moveItem(atPath: "\(root)/var/log/containers/app-\(n)_shop_app-\(hexID(n)).log",
                                      toPath: "\(late)/containers/app-\(n)_shop_app-\(hexID(n)).log")
    let start = now()
    let names = kubelet.names(podUID: podUID(n), containerID: hexID(n))
    firstLogs.append(now() - start)
    precondition(names.container == "app", "kubelet logs: no names for \(n)")
}
let repeats = 200_000
let start = now()
for i in 0..<repeats { _ = kubelet.names(podUID: podUID(i % containers), containerID: hexID(i % containers)) }
report("kubelet logs", first: firstLogs, known: Double(now() - start) / Double(repeats))
