@testable import BindsnoopCore
import Foundation
import Testing
import Yams

/// The deployment files parse (their structure is checked by the tools that
/// consume them; none of those runs here, so syntax and key facts are checked).
struct DeployFilesTests {
    static let deploy = RecordFixtures.repository.appending(path: "deploy").path

    @Test(arguments: ["kubernetes/daemonset.yaml", "pipelines/vector.yaml", "pipelines/fluent-bit.yaml"])
    func yamlParses(name: String) throws {
        let text = try String(contentsOfFile: "\(Self.deploy)/\(name)", encoding: .utf8)
        let documents = try Array(Yams.load_all(yaml: text))
        #expect(!documents.isEmpty)
    }

    @Test func daemonSetAddsOnlyTheCapabilitiesBPFNeeds() throws {
        let text = try String(contentsOfFile: "\(Self.deploy)/kubernetes/daemonset.yaml", encoding: .utf8)
        let daemonSet = try #require(try Array(Yams.load_all(yaml: text)).compactMap { $0 as? [String: Any] }
            .first { $0["kind"] as? String == "DaemonSet" })
        let spec = (daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any]
        let container = ((spec?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first
        let security = container?["securityContext"] as? [String: Any]
        let capabilities = security?["capabilities"] as? [String: Any]
        #expect(capabilities?["add"] as? [String] == ["BPF", "PERFMON", "NET_ADMIN", "SYS_RESOURCE"])
        #expect(capabilities?["drop"] as? [String] == ["ALL"])
        #expect(security?["privileged"] as? Bool == false)
        let mounts = (container?["volumeMounts"] as? [[String: Any]]) ?? []
        for path in ["/var/log/pods", "/var/log/containers"] {
            #expect(mounts.contains { $0["mountPath"] as? String == path && $0["readOnly"] as? Bool == true },
                    "the kubelet's \(path), read-only, for pod and container names")
        }
        // The runtimes' state that RuntimeState reads, at the paths it reads them (runtime_state_root "/").
        for path in ["/run/containerd/io.containerd.runtime.v2.task", "/var/lib/containers/storage/overlay-containers", "/var/lib/docker/containers"] {
            #expect(mounts.contains { $0["mountPath"] as? String == path && $0["readOnly"] as? Bool == true },
                    "the runtimes' \(path), read-only, for container and image names")
        }
    }

    /// Kubernetes' own schema (kubernetes-validate, strict: unknown fields
    /// refused), and a DaemonSet with one unknown field is refused by it.
    @Test func daemonSetIsValidKubernetes() throws {
        let path = "\(Self.deploy)/kubernetes/daemonset.yaml"
        let valid = try runTool("/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict", path])
        #expect(valid.status == 0, "kubernetes-validate (scripts/install-deps --test installs it): \(valid.stdout)\(valid.stderr)")
        let broken = FileManager.default.temporaryDirectory.appending(path: "daemonset-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: broken) }
        try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "readOnly: true}", with: "readOnly: true, bogus: 1}")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(try runTool("/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict", broken]).status != 0)
    }

    /// The ConfigMap's configuration loads, and the liveness probe asks
    /// /livez, the readiness probe /healthz, on the port its metrics.address serves.
    @Test func daemonSetProbesTheHealthEndpointItConfigures() throws {
        let text = try String(contentsOfFile: "\(Self.deploy)/kubernetes/daemonset.yaml", encoding: .utf8)
        let documents = try Array(Yams.load_all(yaml: text)).compactMap { $0 as? [String: Any] }
        let configMap = try #require(documents.first { $0["kind"] as? String == "ConfigMap" })
        let yaml = try #require((configMap["data"] as? [String: Any])?["bindsnoop.yaml"] as? String)
        let file = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let port = try #require(try ConfigurationLoader.load(file: file, environment: [:]).metricsAddress?.port)
        let daemonSet = try #require(documents.first { $0["kind"] as? String == "DaemonSet" })
        let template = (daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any]
        let container = try #require(((template?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
        let ports = (container["ports"] as? [[String: Any]]) ?? []
        #expect(ports.contains { $0["name"] as? String == "metrics" && $0["containerPort"] as? Int == Int(port) })
        let liveness = (container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any]
        #expect(liveness?["path"] as? String == "/livez" && liveness?["port"] as? String == "metrics")
        let readiness = (container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any]
        #expect(readiness?["path"] as? String == "/healthz" && readiness?["port"] as? String == "metrics")
    }

    @Test func systemdUnitWaitsForReadiness() throws {
        let unit = try String(contentsOfFile: "\(Self.deploy)/bindsnoop.service", encoding: .utf8)
        #expect(unit.contains("Type=notify"))
        #expect(unit.contains("CapabilityBoundingSet=CAP_BPF CAP_PERFMON"))
        let start = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let address = try #require(start.split(separator: " ").drop { $0 != "--metrics-address" }.dropFirst().first)
        #expect(try ConfigurationLoader.load(file: nil, environment: [:], flags: ["metrics.address": String(address)]).metricsAddress != nil)
    }
}
