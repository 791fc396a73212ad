@testable import BindsnoopCore
import Foundation
import Testing
import Yams

/// The DaemonSet as written (issue 24): its pod template, ConfigMap,
/// securityContext, capabilities and hostPath mounts, taken from
/// deploy/kubernetes/daemonset.yaml at test time and played by podman
/// (Debian 12's podman 4.3 plays Pods, not DaemonSets: the template becomes a
/// Pod). Changed, and printed: the image (the build under test) and the
/// log directory's hostPath (the test's own, not the host's /var/log/bindsnoop).
/// podman runs it with runc and explicit ulimits (containers.conf of the
/// test's own: this machine's hybrid cgroups and missing CAP_SYS_RESOURCE),
/// and with no network: the pod's port is asked inside the pod's network
/// namespace. What podman does not honour of the template is named in the
/// output; what bindsnoop needs of it (capabilities, read-only mounts and root
/// filesystem, seccomp) is checked on the running container.
extension PodmanTests {
    @Test(.root) func theDaemonSetsPodTemplateRunsUnderPodmanKubePlay() throws {
        try Self.ensureDebianBase()
        try Self.ensureImage()
        let image = try Self.buildBindsnoopImage()
        try Self.mountTracefs()
        let manifest = try String(contentsOf: Harness.packageDirectory.appending(path: "deploy/kubernetes/daemonset.yaml"), encoding: .utf8)
        let documents = try Array(Yams.load_all(yaml: manifest)).compactMap { $0 as? [String: Any] }
        let configMap = try #require(documents.first { $0["kind"] as? String == "ConfigMap" })
        let daemonSet = try #require(documents.first { $0["kind"] as? String == "DaemonSet" })
        let template = try #require((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])
        var spec = try #require(template["spec"] as? [String: Any])
        var containers = try #require(spec["containers"] as? [[String: Any]])
        let written = containers[0]
        let mounts = try #require(written["volumeMounts"] as? [[String: Any]])
        let logsVolume = try #require(mounts.first { $0["mountPath"] as? String == "/var/log/bindsnoop" }?["name"] as? String)
        let logs = Harness.temporaryFile("daemonset-logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: logs) }
        print("daemonset: image \(written["image"] ?? "none") -> \(image) (the build under test)")
        containers[0]["image"] = image
        spec["containers"] = containers
        var volumes = try #require(spec["volumes"] as? [[String: Any]])
        for index in volumes.indices where volumes[index]["name"] as? String == logsVolume {
            var hostPath = try #require(volumes[index]["hostPath"] as? [String: Any])
            print("daemonset: volume \(logsVolume) hostPath \(hostPath["path"] ?? "none") -> \(logs.path) (the test's own)")
            hostPath["path"] = logs.path
            volumes[index]["hostPath"] = hostPath
        }
        spec["volumes"] = volumes
        // The port /healthz answers on: the ConfigMap's own configuration, loaded by bindsnoop's loader.
        let configFile = Harness.temporaryFile("daemonset-config.yaml")
        defer { try? FileManager.default.removeItem(at: configFile) }
        try #require((configMap["data"] as? [String: Any])?["bindsnoop.yaml"] as? String).write(to: configFile, atomically: true, encoding: .utf8)
        let port = try #require(try ConfigurationLoader.load(file: configFile.path, environment: [:]).metricsAddress?.port)

        let podName = "bindsnoop-daemonset-\(getpid())"
        var metadata = template["metadata"] as? [String: Any] ?? [:]
        metadata["name"] = podName
        let pod: [String: Any] = ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec]
        // JSON is YAML: the documents as podman reads them, without a second YAML writer.
        let podFile = Harness.temporaryFile("daemonset-pod.json"), configMapFile = Harness.temporaryFile("daemonset-configmap.json")
        let containersConf = Harness.temporaryFile("containers.conf")
        defer { for file in [podFile, configMapFile, containersConf] { try? FileManager.default.removeItem(at: file) } }
        try JSONSerialization.data(withJSONObject: pod).write(to: podFile)
        try JSONSerialization.data(withJSONObject: configMap).write(to: configMapFile)
        try "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1000:1000\"]\n[engine]\nruntime = \"runc\"\n"
            .write(to: containersConf, atomically: true, encoding: .utf8)
        let environment = ["CONTAINERS_CONF": containersConf.path]
        defer { _ = try? run(Self.podman, ["pod", "rm", "-f", "-t", "0", podName], environment: environment) }
        let played = try run(Self.podman, ["kube", "play", "--network", "none", "--configmap", configMapFile.path, podFile.path], environment: environment)
        try #require(played.status == 0, "podman kube play: \(played.stdout)\(played.stderr)")
        let name = try #require(written["name"] as? String)
        let container = "\(podName)-\(name)"
        func logLines() -> String { (try? run(Self.podman, ["logs", container]))?.stderr ?? "" }
        let attached = waitFor(60) { StatusLine.attached(in: logLines()) != nil }
        try #require(attached, "bindsnoop in the DaemonSet's pod did not attach: \(logLines().suffix(3000))")

        // What podman made of the template.
        let inspected = try run(Self.podman, ["container", "inspect", container])
        let parsed = try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [[String: Any]]
        let state = try #require(parsed?.first, "podman container inspect: \(inspected.stderr)")
        let security = written["securityContext"] as? [String: Any] ?? [:]
        let added = ((security["capabilities"] as? [String: Any])?["add"] as? [String] ?? []).map { "CAP_\($0)" }
        #expect(Set(state["EffectiveCaps"] as? [String] ?? []) == Set(added), "capabilities: exactly the DaemonSet's")
        let host = state["HostConfig"] as? [String: Any] ?? [:]
        #expect(host["ReadonlyRootfs"] as? Bool == (security["readOnlyRootFilesystem"] as? Bool ?? false))
        #expect((host["SecurityOpt"] as? [String] ?? []).contains("seccomp=unconfined"), "\(host["SecurityOpt"] ?? "none")")
        let made = state["Mounts"] as? [[String: Any]] ?? []
        for mount in mounts {
            let path = mount["mountPath"] as? String ?? ""
            let found = made.first { $0["Destination"] as? String == path }
            #expect(found != nil, "volumeMount \(path) not made")
            let readOnly = mount["readOnly"] as? Bool ?? false
            #expect(found?["RW"] as? Bool == !readOnly, "volumeMount \(path): readOnly \(readOnly)")
        }
        var notHonoured: [String] = []
        if spec["tolerations"] != nil { notHonoured.append("tolerations (no scheduler)") }
        if security["appArmorProfile"] != nil { notHonoured.append("securityContext.appArmorProfile (no AppArmor on this host)") }
        if (state["Config"] as? [String: Any])?["Healthcheck"] == nil {
            for probe in ["livenessProbe", "readinessProbe"] where written[probe] != nil { notHonoured.append("\(probe) (no health check made)") }
        }
        if let limit = (written["resources"] as? [String: Any])?["limits"] as? [String: Any], limit["memory"] != nil, (host["Memory"] as? Int ?? 0) == 0 {
            notHonoured.append("resources.limits.memory (no memory limit set)")
        }
        print("daemonset: podman did not honour: \(notHonoured.isEmpty ? "nothing" : notHonoured.joined(separator: "; "))")

        // /healthz on the ConfigMap's port, in the pod's network namespace.
        let pid = try #require((state["State"] as? [String: Any])?["Pid"] as? Int, "no pid for \(container)")
        var health = ""
        let healthy = try waitFor(15) {
            health = try run(URL(fileURLWithPath: "/usr/bin/nsenter"), ["-t", "\(pid)", "-n", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                                        "http://127.0.0.1:\(port)/healthz"]).stdout
            return health == "200"
        }
        #expect(healthy, "/healthz on port \(port) answered \(health)")

        // A bind on the host, and one in a podman container started now.
        let hostPort = Int.random(in: 20_000...26_000), containerPort = Int.random(in: 26_001...32_000)
        let hostBind = try run(Harness.bindgen, ["--port", "\(hostPort)"])
        let binder = try buildTool("bind-tcp-udp.c", flags: ["-static"], needs: "gcc and libc6-dev")
        let cidFile = Harness.temporaryFile("daemonset-cid")
        defer { try? FileManager.default.removeItem(at: cidFile) }
        let inContainer = try run(Self.podman, ["run", "--cidfile", cidFile.path, "--network", "none"] + Self.runOptions
                                  + ["-v", "\(binder.path):/bind-tcp-udp:ro", Self.image, "/bind-tcp-udp", "\(containerPort)"])
        #expect(inContainer.status == 0, "\(inContainer.stderr)")
        let id = try String(contentsOf: cidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run(Self.podman, ["rm", "-f", id]) }
        let containerName = try run(Self.podman, ["inspect", "--format", "{{.Name}}", id]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let active = logs.appending(path: "bind.ndjson")
        var events: [[String: Any]] = []
        func bind(port: Int) -> [String: Any]? {
            events.first { $0.path("server.port") as? Int == port && $0.path("event.action") as? String == "bind" }
        }
        _ = waitFor(15) {
            let text = (try? String(contentsOf: active, encoding: .utf8)) ?? ""
            events = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return bind(port: hostPort) != nil && bind(port: containerPort) != nil
        }
        let onHost = try #require(bind(port: hostPort), "the host's bind is not in \(active.path)")
        #expect(onHost.path("process.pid") as? Int == Int(hostBind.pid), "the host's pid, from inside the pod's pid namespace")
        #expect(onHost["container"] == nil, "a host process has no container: \(onHost)")
        let inPodman = try #require(bind(port: containerPort), "the container's bind is not in \(active.path)")
        #expect(inPodman.path("container.id") as? String == id)
        #expect(inPodman.path("container.runtime") as? String == "podman")
        #expect(inPodman.path("container.name") as? String == containerName, "read through the DaemonSet's read-only mount of podman's storage")
        #expect(inPodman.path("container.image.name") as? String == Self.image)
        let text = try String(contentsOf: active, encoding: .utf8)
        try validateAgainstSchema(text.split(separator: "\n").map(String.init))
    }
}
