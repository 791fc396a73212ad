import Foundation
import Yams

/// Reads the YAML file and the BINDSNOOP_* environment into a `Configuration`.
/// Unknown keys and variables are refused, as are values of the wrong type or range.
public enum ConfigurationLoader {
    /// Every settable key, as YAML path; the variable is BINDSNOOP_ + the path joined by _ in capitals.
    static let keys: [[String]] = [
        ["probe"], ["format"], ["ring_buffer_size"], ["user"],
        ["filters", "pid"], ["filters", "uid"], ["filters", "ports"], ["filters", "cgroup"], ["filters", "outcome"],
        ["table", "timestamp"], ["table", "uid"], ["table", "wide"],
        ["limits", "max_events"], ["limits", "duration"],
        ["sinks", "stdout", "enabled"],
        ["sinks", "file", "enabled"], ["sinks", "file", "path"], ["sinks", "file", "max_size"],
        ["sinks", "file", "max_age"], ["sinks", "file", "max_files"], ["sinks", "file", "max_total_size"],
        ["sinks", "file", "compression"], ["sinks", "file", "level"], ["sinks", "file", "mode"],
        ["sinks", "unix", "enabled"], ["sinks", "unix", "path"], ["sinks", "unix", "mode"], ["sinks", "unix", "buffer"],
    ]

    public static func variableName(_ path: [String]) -> String {
        "BINDSNOOP_" + path.joined(separator: "_").uppercased()
    }

    public static func load(file: String?, environment: [String: String]) throws(ConfigError) -> Configuration {
        var root = Node.mapping([:])
        if let file {
            root = try readFile(file)
        }
        var fromEnvironment: [String: String] = [:]  // dotted path → variable
        let byName = Dictionary(uniqueKeysWithValues: keys.map { (variableName($0), $0) })
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("BINDSNOOP_") {
            guard let path = byName[name] else {
                throw ConfigError(key: name, "unknown variable; known: \(byName.keys.sorted().joined(separator: ", "))")
            }
            root = setting(root, path: path[...], to: Node(value))
            fromEnvironment[path.joined(separator: ".")] = name
        }
        do {
            return try YAMLDecoder().decode(ConfigurationFile.self, from: root).configuration()
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            throw describe(error, variables: fromEnvironment)
        } catch {
            throw ConfigError(key: file ?? "", "\(error)")
        }
    }

    private static func readFile(_ path: String) throws(ConfigError) -> Node {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(key: "--config \(path)", "cannot read it (\((error as NSError).localizedDescription))")
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { return .mapping([:]) }
            guard node.mapping != nil else { throw ConfigError(key: path, "the top level must be a mapping of keys") }
            return node
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(key: path, "not valid YAML: \(error)".replacingOccurrences(of: "\n", with: " "))
        }
    }

    private static func setting(_ node: Node, path: ArraySlice<String>, to value: Node) -> Node {
        guard let key = path.first else { return value }
        var mapping = node.mapping ?? Node.Mapping([])
        let child = mapping[key] ?? .mapping([:])
        mapping[key] = setting(child, path: path.dropFirst(), to: value)
        return .mapping(mapping)
    }

    static func describe(_ error: DecodingError, variables: [String: String]) -> ConfigError {
        let (path, message): ([CodingKey], String)
        switch error {
        case .typeMismatch(let type, let context):
            (path, message) = (context.codingPath, "expected \(typeName(type))")
        case .valueNotFound(let type, let context):
            (path, message) = (context.codingPath, "expected \(typeName(type)), found nothing")
        case .keyNotFound(let key, let context):
            (path, message) = (context.codingPath + [key], "required")
        case .dataCorrupted(let context):
            (path, message) = (context.codingPath, context.debugDescription)
        @unknown default:
            (path, message) = ([], "\(error)")
        }
        let dotted = path.map(\.stringValue).joined(separator: ".")
        return ConfigError(key: variables[dotted] ?? dotted, message)
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is UInt32.Type, is Int32.Type, is UInt64.Type: "a whole number"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        default: "a \(type)"
        }
    }
}
