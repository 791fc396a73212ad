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

    /// A configuration larger than this is refused before it is read.
    public static let maximumFileBytes = 1 << 20

    private static func readFile(_ path: String) throws(ConfigError) -> Node {
        let text = try readText(path)
        do {
            guard let node = try Yams.compose(yaml: text) else { return .mapping([:]) }
            guard node.mapping != nil else { throw ConfigError(key: path, "the top level must be a mapping of keys") }
            return node
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(key: path, "not valid YAML: \(describe(error, in: text))")
        }
    }

    /// The file's text: a regular file of at most `maximumFileBytes` of UTF-8,
    /// or a true reason why not (a directory, a FIFO, a device…). Opened
    /// non-blocking, so that a FIFO without a writer cannot hang the start.
    static func readText(_ path: String) throws(ConfigError) -> String {
        // Named by its path, as the file's other errors are: a configuration problem (78).
        let key = path
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            let hint = switch code {
            case ENOENT: "no such file: give the path of a YAML file"
            case EACCES, EPERM: "this user (uid \(geteuid())) may not read it"
            case ENXIO: "it is a socket, not a file: give the path of a YAML file"
            default: "give the path of a readable YAML file"
            }
            throw ConfigError(key: key, "cannot open the configuration (\(errorName(code))): \(hint)")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ConfigError(key: key, "cannot read the configuration (fstat: \(errorName(errno)))") }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ConfigError(key: key, "is a directory, not a configuration file: give the path of the YAML file in it, e.g. /etc/bindsnoop/bindsnoop.yaml")
        case S_IFIFO: throw ConfigError(key: key, "is a FIFO, not a configuration file: give the path of a regular YAML file (a pipe has no end to wait for at start)")
        case S_IFCHR, S_IFBLK: throw ConfigError(key: key, "is a device, not a configuration file: give the path of a regular YAML file")
        default: throw ConfigError(key: key, "is not a regular file: give the path of a YAML file")
        }
        guard status.st_size <= maximumFileBytes else {
            throw ConfigError(key: key, "is \(status.st_size) bytes: a configuration file is at most \(maximumFileBytes >> 20) MiB; is this the right file?")
        }
        var bytes = [UInt8](repeating: 0, count: maximumFileBytes + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if got == 0 { break }
            if got < 0 {
                if errno == EINTR { continue }
                throw ConfigError(key: key, "cannot read the configuration (\(errorName(errno)))")
            }
            count += got
        }
        guard count <= maximumFileBytes else {
            throw ConfigError(key: key, "grew past \(maximumFileBytes >> 20) MiB while read: a configuration is at most that")
        }
        guard let text = String(validating: bytes[..<count], as: UTF8.self) else {
            throw ConfigError(key: key, "is not UTF-8 text: give a YAML file")
        }
        return text
    }

    /// A YAML error in one line: where, what, and at most 200 bytes of the
    /// line around the place (control bytes escaped).
    static func describe(_ error: Error, in text: String) -> String {
        func near(line: Int, column: Int) -> String {
            guard line >= 1, let content = text.split(separator: "\n", maxSplits: line, omittingEmptySubsequences: false)
                .dropFirst(line - 1).first else { return "" }
            let skip = max(0, column - 1 - 60)
            let from = content.unicodeScalars.index(content.unicodeScalars.startIndex, offsetBy: min(skip, content.unicodeScalars.count))
            return content[from...].isEmpty ? "" : ", near '\(skip > 0 ? "…" : "")\(ConfigError.excerpt(content[from...]))'"
        }
        func located(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> String {
            let during = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return "line \(mark.line), column \(mark.column): \(problem)\(during)\(near(line: mark.line, column: mark.column))"
        }
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _)?, .parser(let context, let problem, let mark, _)?,
             .composer(let context, let problem, let mark, _)?:
            return located(mark, problem, context)
        case .reader(let problem, let offset, let value, _)?:
            let before = Array(text.utf8.prefix(offset ?? 0))
            let line = before.count { $0 == UInt8(ascii: "\n") } + 1
            let column = (before.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).last?.count ?? 0) + 1
            return "line \(line), byte \(column): \(problem) (0x\(String(value, radix: 16)))\(near(line: line, column: column))"
        default:
            return ConfigError.excerpt("\(error)")
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
