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
/// on podman's default bridge network; the pod's port is asked inside the
/// pod's network namespace (nsenter), as the kubelet's probe would. What podman does not honour of the template is named in the
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

        // DirectoryOrCreate hostPaths this host lacks (no kubelet, no containerd here):
        // podman makes them as the kubelet would; the test removes what it made.
        var createdPaths: [String] = []
        for volume in volumes {
            guard let hostPath = volume["hostPath"] as? [String: Any], hostPath["type"] as? String == "DirectoryOrCreate",
                  var path = hostPath["path"] as? String else { continue }
            while path != "/" && access(path, F_OK) != 0 {
                createdPaths.append(path)
                path = (path as NSString).deletingLastPathComponent
            }
        }
        defer { for path in createdPaths.sorted(by: { $0.count > $1.count }) { rmdir(path) } }
        let podName = "bindsnoop-daemonset-\(getpid())"
        var metadata = template["metadata"] as? [String: Any] ?? [:]
        metadata["name"] = podName
        // podman 4.3 reads a pod's seccomp profile from the annotation that
        // Kubernetes replaced by securityContext.seccompProfile (1.19), not from the field.
        let security = written["securityContext"] as? [String: Any] ?? [:]
        if (security["seccompProfile"] as? [String: Any])?["type"] as? String == "Unconfined" {
            var annotations = metadata["annotations"] as? [String: Any] ?? [:]
            annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined"
            metadata["annotations"] = annotations
            print("daemonset: securityContext.seccompProfile Unconfined -> annotation seccomp.security.alpha.kubernetes.io/pod: unconfined (what podman 4.3 reads)")
        }
        let pod: [String: Any] = ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec]
        // JSON is YAML (slashes left unescaped: YAML has no \\/): the documents as podman reads them.
        let podFile = Harness.temporaryFile("daemonset-pod.json"), configMapFile = Harness.temporaryFile("daemonset-configmap.json")
        let containersConf = Harness.temporaryFile("containers.conf")
        defer { for file in [podFile, configMapFile, containersConf] { try? FileManager.default.removeItem(at: file) } }
        try JSONSerialization.data(withJSONObject: pod, options: .withoutEscapingSlashes).write(to: podFile)
        try JSONSerialization.data(withJSONObject: configMap, options: .withoutEscapingSlashes).write(to: configMapFile)
        try "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1000:1000\"]\n[engine]\nruntime = \"runc\"\n"
            .write(to: containersConf, atomically: true, encoding: .utf8)
        let environment = ["CONTAINERS_CONF": containersConf.path]
        defer { _ = try? run(Self.podman, ["pod", "rm", "-f", "-t", "0", podName], environment: environment) }
        // Output to files: the containers' monitors (conmon) inherit podman's
        // descriptors and keep pipes open for as long as the pod runs.
        let played = try Self.runLeavingMonitors(["kube", "play", "--configmap", configMapFile.path, podFile.path], environment: environment)
        try #require(played.status == 0, "podman kube play: \(played.stdout)\(played.stderr)")
        let name = try #require(written["name"] as? String)
        let container = "\(podName)-\(name)"
        func logLines() -> String { (try? run(Self.podman, ["logs", container])).map { $0.stdout + $0.stderr } ?? "" }
        let attached = waitFor(60) { StatusLine.attached(in: logLines()) != nil }
        try #require(attached, "bindsnoop in the DaemonSet's pod did not attach: \(logLines().suffix(3000))")

        // What podman made of the template.
        let inspected = try run(Self.podman, ["container", "inspect", container])
        let parsed = try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [[String: Any]]
        let state = try #require(parsed?.first, "podman container inspect: \(inspected.stderr)")
        let added = Set(((security["capabilities"] as? [String: Any])?["add"] as? [String] ?? []).map { "CAP_\($0)" })
        // A capability this host's own bounding set lacks (CAP_SYS_RESOURCE on this VM) cannot be given.
        let lacking = added.filter { !Self.hostBoundingSet().contains($0) }
        if !lacking.isEmpty { print("daemonset: capabilities this host cannot give (not in its bounding set): \(lacking.sorted())") }
        #expect(Set(state["EffectiveCaps"] as? [String] ?? []) == added.subtracting(lacking), "capabilities: exactly the DaemonSet's")
        let host = state["HostConfig"] as? [String: Any] ?? [:]
        #expect(host["ReadonlyRootfs"] as? Bool == (security["readOnlyRootFilesystem"] as? Bool ?? false))
        let pid = try #require((state["State"] as? [String: Any])?["Pid"] as? Int, "no pid for \(container)")
        // Unconfined: no seccomp filter on bindsnoop itself (podman's inspect does not say so).
        let processStatus = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        #expect(processStatus.split(separator: "\n").contains { $0.hasPrefix("Seccomp:") && $0.hasSuffix("0") }, "bindsnoop runs under a seccomp filter")
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
        // podman makes one health check, from the liveness probe; a named port is not resolved.
        let check = ((state["Config"] as? [String: Any])?["Healthcheck"] as? [String: Any])?["Test"] as? [String]
        if written["livenessProbe"] != nil {
            let test = check?.dropFirst().joined(separator: " ") ?? ""
            if check == nil || test.contains(":0/") { notHonoured.append("livenessProbe (podman's health check: '\(test)')") }
        }
        if written["readinessProbe"] != nil { notHonoured.append("readinessProbe (podman makes no readiness check)") }
        if let limit = (written["resources"] as? [String: Any])?["limits"] as? [String: Any], limit["memory"] != nil, (host["Memory"] as? Int ?? 0) == 0 {
            notHonoured.append("resources.limits.memory (no memory limit set)")
        }
        print("daemonset: podman did not honour: \(notHonoured.isEmpty ? "nothing" : notHonoured.joined(separator: "; "))")

        // /healthz on the ConfigMap's port, in the pod's network namespace.
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
        print("daemonset: attached in the pod, /healthz on port \(port): \(health); the host's bind: pid \(onHost.path("process.pid") ?? "none"), no container; podman's: \(inPodman.path("container.name") ?? "no name"), \(inPodman.path("container.image.name") ?? "no image")")
        let text = try String(contentsOf: active, encoding: .utf8)
        try validateAgainstSchema(text.split(separator: "\n").map(String.init))
    }

    /// The capabilities this process may ever have (CapBnd), by name.
    static func hostBoundingSet() -> Set<String> {
        let names = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
                     "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
                     "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
                     "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
                     "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
                     "CHECKPOINT_RESTORE"]
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
              let mask = UInt64(line.dropFirst("CapBnd:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return [] }
        return Set(names.indices.filter { mask & (1 << UInt64($0)) != 0 }.map { "CAP_\(names[$0])" })
    }

    /// podman with its output in files, not pipes (see above): status, stdout, stderr.
    static func runLeavingMonitors(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let out = Harness.temporaryFile("podman-stdout"), err = Harness.temporaryFile("podman-stderr")
        defer { for file in [out, err] { try? FileManager.default.removeItem(at: file) } }
        for file in [out, err] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        let process = Process()
        process.executableURL = podman
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.runUnmasked()
        // Reaped here: Foundation never saw this podman exit (kube play: a
        // zombie while waitUntilExit and isRunning waited on).
        let deadline = Date().addingTimeInterval(180)
        var status: Int32 = 0
        var reaped = waitpid(process.processIdentifier, &status, WNOHANG)
        while reaped == 0 && Date() < deadline {
            usleep(50_000)
            reaped = waitpid(process.processIdentifier, &status, WNOHANG)
        }
        if reaped == 0 {
            kill(process.processIdentifier, SIGKILL)
            throw HarnessError.failed("podman \(arguments.joined(separator: " ").prefix(60)) did not finish in 180 s")
        }
        // -1 (ECHILD): Foundation reaped it after all.
        let exitStatus = reaped > 0 ? ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)) : process.terminationStatus
        return (exitStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
