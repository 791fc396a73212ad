import Foundation
import Yams

/// Reads the YAML file, then the BINDSNOOP_* environment, then the flags
/// into a `Configuration`, each overriding the one before, key by key, as
/// `ConfigKeys.all` defines them. Unknown keys and variables are refused, as
/// are values of the wrong type or range; an error names where the value
/// came from (the key, the variable or the flag).
public enum ConfigurationLoader {
    /// `flags`: values given on the command line, by key path (`filters.pid`: "1234").
    public static func load(file: String?, environment: [String: String],
                            flags: [String: String] = [:]) throws(ConfigError) -> Configuration {
        var values: [String: (node: Node, source: ConfigSource)] = [:]
        var sections: Set<String> = []
        if let file {
            try flatten(try readFile(file), path: "", into: &values, sections: &sections)
        }
        let byVariable = Dictionary(uniqueKeysWithValues: ConfigKeys.all.map { ($0.variable, $0) })
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("BINDSNOOP_") {
            guard let key = byVariable[name] else {
                throw ConfigError(key: name, "unknown variable; known: \(byVariable.keys.sorted().joined(separator: ", "))")
            }
            values[key.path] = (Node(value), .variable(name))
        }
        for (path, value) in flags.sorted(by: { $0.key < $1.key }) {
            guard let key = ConfigKeys.named(path) else { preconditionFailure("a flag for no key: \(path)") }
            values[path] = (Node(value), .flag(key.flagName ?? path))
        }

        var draft = ConfigDraft()
        for section in sections.sorted() { draft.begin(section: section) }
        for key in ConfigKeys.all {
            guard let (node, source) = values[key.path] else { continue }
            draft.begin(section: key.section)
            do {
                try key.apply(&draft, node)
            } catch let error as ConfigError {
                if error.key == key.path { throw ConfigError(source: source, error.problem) }
                throw error
            } catch let error as DecodingError {
                throw ConfigError(source: source, describe(error))
            } catch {
                throw ConfigError(source: source, "\(error)".replacingOccurrences(of: "\n", with: " "))
            }
        }
        var configuration = try draft.configuration()
        configuration.sources = values.mapValues(\.source)
        return configuration
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

    /// The file's values by key path; a key that is neither a setting nor a
    /// section of settings is refused, with what its section takes.
    private static func flatten(_ node: Node, path: String, into values: inout [String: (node: Node, source: ConfigSource)],
                                sections: inout Set<String>) throws(ConfigError) {
        if node.null != nil { return }  // `filters:` with nothing under it
        guard let mapping = node.mapping else {
            throw ConfigError(key: path, "expected a mapping of keys, e.g. \(path): {\(takes(path).first ?? "")…}")
        }
        if !path.isEmpty { sections.insert(path) }
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else { throw ConfigError(key: path, "keys must be strings") }
            let child = path.isEmpty ? name : "\(path).\(name)"
            if ConfigKeys.named(child) != nil {
                if value.null == nil { values[child] = (value, .file(key: child)) }
            } else if ConfigKeys.sectionPaths.contains(child) {
                try flatten(value, path: child, into: &values, sections: &sections)
            } else {
                throw ConfigError(key: child, "unknown key; \(path.isEmpty ? "the top level" : "this section") takes \(takes(path).joined(separator: ", "))")
            }
        }
    }

    /// The names a section takes: its keys and its subsections.
    private static func takes(_ section: String) -> [String] {
        let prefix = section.isEmpty ? "" : section + "."
        let names = ConfigKeys.all.compactMap { key -> String? in
            guard key.path.hasPrefix(prefix) else { return nil }
            return key.path.dropFirst(prefix.count).split(separator: ".").first.map(String.init)
        }
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }.sorted()
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, _): "expected \(typeName(type))"
        case .valueNotFound(let type, _): "expected \(typeName(type)), found nothing"
        case .keyNotFound(let key, _): "\(key.stringValue) required"
        case .dataCorrupted(let context): context.debugDescription
        @unknown default: "\(error)"
        }
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
