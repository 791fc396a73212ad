@testable import BindsnoopCore
import Foundation
import Testing

@Suite struct ConfigurationTests {
    private func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-config-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func error(file yaml: String? = nil, environment: [String: String] = [:], flags: [String: String] = [:]) throws -> ConfigError? {
        let path = try yaml.map(write)
        defer { path.map { try? FileManager.default.removeItem(atPath: $0) } }
        do {
            _ = try ConfigurationLoader.load(file: path, environment: environment, flags: flags)
            return nil
        } catch {
            return error
        }
    }

    @Test func annotatedExampleLoads() throws {
        let example = RecordFixtures.repository.appending(path: "docs/bindsnoop.example.yaml").path
        let config = try ConfigurationLoader.load(file: example, environment: [:])
        #expect(config.sinks.stdoutEnabled == false)
        #expect(config.sinks.file?.path == "/var/log/bindsnoop/bind.ndjson")
        #expect(config.sinks.file?.maxSize == 64 << 20)
        #expect(config.sinks.file?.maxAge == 3600)
        #expect(config.sinks.file?.mode == 0o640)
        #expect(config.sinks.unix?.mode == .stream)
        #expect(config.sinks.unix?.buffer == 8 << 20)
        #expect(config.ringBufferSize == 2 << 20)
    }

    @Test func defaultsAreStdoutOnly() throws {
        let config = try ConfigurationLoader.load(file: nil, environment: ["PATH": "/bin"])
        #expect(config == Configuration())
        #expect(config.sinks.stdoutEnabled)
    }

    @Test func environmentOverridesFile() throws {
        let path = try write("""
            filters: {ports: [80], outcome: failure}
            sinks:
              file: {path: /var/log/b/bind.ndjson, max_size: 1MiB}
            """)
        let config = try ConfigurationLoader.load(file: path, environment: [
            "BINDSNOOP_SINKS_FILE_MAX_SIZE": "2MiB", "BINDSNOOP_FILTERS_PORTS": "53,853",
            "BINDSNOOP_SINKS_STDOUT_ENABLED": "true", "BINDSNOOP_LIMITS_DURATION": "90s",
        ])
        #expect(config.sinks.file?.maxSize == 2 << 20)
        #expect(config.filter.ports == [53, 853])
        #expect(config.filter.outcome == .failure)
        #expect(config.sinks.stdoutEnabled)
        #expect(config.limits.duration == 90)
    }

    @Test(arguments: [
        ("sinks:\n  file: {path: /x/y.ndjson, max_sise: 1MiB}\n", "sinks.file.max_sise", "unknown key"),
        ("filters: {pid: many}\n", "filters.pid", "whole number"),
        ("sinks:\n  file: {path: /x/y.ndjson, max_size: -5}\n", "sinks.file.max_size", "negative"),
        ("sinks:\n  unix: {path: run/vector.sock}\n", "sinks.unix.path", "absolute"),
        ("sinks:\n  unix: {path: /run/v.sock, mode: carrier-pigeon}\n", "sinks.unix.mode", "stream, datagram"),
        ("sinks:\n  file: {max_size: 1MiB}\n", "sinks.file.path", "required"),
        ("sinks:\n  file: {path: /x/y.ndjson, mode: \"0666\"}\n", "sinks.file.mode", "others"),
        ("filters: {ports: [80, 70000]}\n", "filters.ports", "65535"),
        ("probe: uprobe\n", "probe", "auto, fentry"),
        ("ring_buffer_size: 3000\n", "ring_buffer_size", "power of two"),
        ("limits: {duration: soon}\n", "limits.duration", "duration"),
        ("metrics: {address: localhost:9464}\n", "metrics.address", "HOST:PORT"),
        ("metrics: {address: \"127.0.0.1\"}\n", "metrics.address", "HOST:PORT"),
        ("metrics: {address: \"[::1]:0\"}\n", "metrics.address", "HOST:PORT"),
        ("rate_limit: 0/s\n", "rate_limit", "100/s"),
        ("rate_limit: lots\n", "rate_limit", "100/s"),
        ("heartbeat: {interval: -1}\n", "heartbeat.interval", "0 (off)"),
        ("- just\n- a list\n", "", "mapping"),
        ("a: [unclosed\n", "", "YAML"),
    ])
    func badFilesNameTheKey(yaml: String, key: String, problem: String) throws {
        let failure = try #require(try error(file: yaml))
        #expect(failure.key.hasSuffix(key), "\(failure)")
        #expect(failure.description.contains(problem), "\(failure)")
        #expect(!failure.description.contains("\n"))
    }

    @Test func badEnvironmentNamesTheVariable() throws {
        let unknown = try #require(try error(environment: ["BINDSNOOP_SINKS_FILE_MAXSIZE": "1"]))
        #expect(unknown.key == "BINDSNOOP_SINKS_FILE_MAXSIZE")
        let wrongType = try #require(try error(environment: ["BINDSNOOP_FILTERS_UID": "root"]))
        #expect(wrongType.key == "BINDSNOOP_FILTERS_UID")
    }

    @Test func missingFileIsReported() throws {
        do {
            _ = try ConfigurationLoader.load(file: "/nonexistent/bindsnoop.yaml", environment: [:])
            Issue.record("a missing file must be refused")
        } catch {
            #expect(error.key.contains("/nonexistent/bindsnoop.yaml"))
        }
    }

    @Test func byteSizes() {
        #expect(parseByteSize("4MiB") == 4 << 20)
        #expect(parseByteSize("64 KiB") == 64 << 10)
        #expect(parseByteSize("1G") == 1_000_000_000)
        #expect(parseByteSize("8388608") == 8_388_608)
        #expect(parseByteSize("-1") == nil)
        #expect(parseByteSize("12parsecs") == nil)
        #expect(parseByteSize("99999999999999999999GiB") == nil)
    }

    @Test func durationsAndSizes() {
        #expect(parseDuration("500ms") == 0.5)
        #expect(parseDuration("15m") == 900)
        #expect(parseDuration("1d") == 86400)
        #expect(parseDuration("0s") == nil)
        #expect(parseDuration("fortnight") == nil)
    }

    /// The file, the variables and the flags read the same table: every key
    /// has a variable, and its example value set through it loads.
    @Test func everyKeyHasAVariableThatLoads() throws {
        for key in ConfigKeys.all {
            #expect(key.variable.hasPrefix("BINDSNOOP_") && !key.variable.contains("."), "\(key.path)")
            // A variable holds text: a list is written with commas.
            let text = key.example.filter { !"\"[]".contains($0) }
            var environment = [key.variable: text]
            if key.path.hasPrefix("sinks.file."), key.path != "sinks.file.path" { environment["BINDSNOOP_SINKS_FILE_PATH"] = "/var/log/b/bind.ndjson" }
            if key.path.hasPrefix("sinks.unix."), key.path != "sinks.unix.path" { environment["BINDSNOOP_SINKS_UNIX_PATH"] = "/run/b.sock" }
            var loaded = try ConfigurationLoader.load(file: nil, environment: environment)
            #expect(loaded.source(of: key.path) == .variable(key.variable), "\(key.path)")
            // A commented key's example is not its default: a store that forgets to assign leaves the defaults.
            loaded.sources = [:]
            if key.commented { #expect(loaded != Configuration(), "\(key.variable)=\(text) changed nothing") }
        }
        #expect(Set(ConfigKeys.all.map(\.variable)).count == ConfigKeys.all.count)
    }

    @Test func operationsKeys() throws {
        let config = try ConfigurationLoader.load(file: nil, environment: ["BINDSNOOP_HEARTBEAT_INTERVAL": "0"],
                                                  flags: ["metrics.address": "[::1]:9464", "rate_limit": "250/s"])
        #expect(config.metricsAddress?.host == "::1" && config.metricsAddress?.port == 9464)
        #expect(config.metricsAddress?.description == "[::1]:9464")
        #expect(config.rateLimit == 250)
        #expect(config.heartbeatInterval == nil, "0 turns the heartbeat off")
        let defaults = try ConfigurationLoader.load(file: nil, environment: [:], flags: ["metrics.address": ":9464", "rate_limit": "40"])
        #expect(defaults.metricsAddress?.host == "0.0.0.0" && defaults.rateLimit == 40)
        #expect(defaults.heartbeatInterval == 60 && defaults.metricsAddress?.isIPv6 == false)
    }

    @Test func countIsSetByItsVariable() throws {
        #expect(try ConfigurationLoader.load(file: nil, environment: ["BINDSNOOP_COUNT": "true"]).count)
        #expect(try ConfigurationLoader.load(file: nil, environment: [:], flags: ["count": "true"]).count)
    }

    /// docs/bindsnoop.example.yaml is rendered from the table (regenerate it
    /// with UPDATE_EXAMPLE=1), and every key in it, uncommented, loads.
    @Test func exampleFileIsTheKeyTable() throws {
        let example = RecordFixtures.repository.appending(path: "docs/bindsnoop.example.yaml").path
        let rendered = ConfigKeys.exampleFile()
        if ProcessInfo.processInfo.environment["UPDATE_EXAMPLE"] == "1" {
            try rendered.write(toFile: example, atomically: true, encoding: .utf8)
        }
        #expect(try String(contentsOfFile: example, encoding: .utf8) == rendered,
                "docs/bindsnoop.example.yaml is not what ConfigKeys renders: UPDATE_EXAMPLE=1 swift test --filter exampleFileIsTheKeyTable")
        var everything = rendered
        for key in ConfigKeys.all {
            #expect(rendered.contains("\(key.name): \(key.example)\n"), "\(key.path) is not in the example")
            everything = everything.replacingOccurrences(of: "# \(key.name): \(key.example)\n", with: "\(key.name): \(key.example)\n")
        }
        let path = try write(everything)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let all = try ConfigurationLoader.load(file: path, environment: [:])
        #expect(all.filter.pid == 1234 && all.limits.maxEvents == 1000 && all.sinks.file?.maxTotalSize == 1 << 30, "\(all)")
    }

    @Test func flagErrorsNameTheFlag() throws {
        let failure = try #require(try error(flags: ["filters.pid": "0"]))
        #expect(failure.key == "--pid", "\(failure)")
        let short = try #require(try error(flags: ["table.wide": "maybe"]))
        #expect(short.key == "-w", "\(short)")
        let overridden = try ConfigurationLoader.load(file: nil, environment: ["BINDSNOOP_FILTERS_PID": "7"], flags: ["filters.pid": "9"])
        #expect(overridden.filter.pid == 9)
    }
}
