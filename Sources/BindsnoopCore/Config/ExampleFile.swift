extension ConfigKeys {
    /// `docs/bindsnoop.example.yaml`: every key with its help, its flag and
    /// its default (or, commented out, an example), rendered from the table.
    public static func exampleFile() -> String {
        var text = """
            # bindsnoop configuration: every key, with a typical value (commented out:
            # off unless given). Pass it with `bindsnoop --config FILE`. Each key can also be
            # set by an environment variable, BINDSNOOP_ + the key path joined by _ in
            # capitals (sinks.file.max_size → BINDSNOOP_SINKS_FILE_MAX_SIZE), and by the
            # flag shown where one exists. Flags override variables, which override
            # this file. Unknown keys, wrong types and bad values are refused at start
            # with exit 78 (64 for a flag).
            #
            # Generated from Sources/BindsnoopCore/Config/ConfigKeys.swift:
            # UPDATE_EXAMPLE=1 swift test --filter exampleFileIsTheKeyTable

            """
        var open: [String] = []  // sections written so far, outermost first
        for key in all {
            let parts = key.path.split(separator: ".").map(String.init)
            let sections = (1..<parts.count).map { parts.prefix($0).joined(separator: ".") }
            while let last = open.last, !sections.contains(last) { open.removeLast() }
            for section in sections where !open.contains(section) {
                let depth = open.count
                if depth == 0 { text += "\n" }
                let help = ConfigKeys.sections.first { $0.path == section }?.help
                text += comment(help, depth: depth)
                text += indent(depth) + section.split(separator: ".").last! + ":\n"
                open.append(section)
            }
            if open.isEmpty { text += "\n" }
            let flag = [key.short.map { "-\($0)" }, key.flag.map { "--\($0)" }].compactMap { $0 }.joined(separator: ", ")
            text += comment(key.help + (flag.isEmpty ? "" : " (\(flag))"), depth: open.count)
            text += indent(open.count) + (key.commented ? "# " : "") + "\(key.name): \(key.example)\n"
        }
        return text
    }

    private static func indent(_ depth: Int) -> String { String(repeating: "  ", count: depth) }

    /// `help` as comment lines of at most about 100 columns.
    private static func comment(_ help: String?, depth: Int) -> String {
        guard let help else { return "" }
        var lines: [String] = []
        var line = ""
        for word in help.split(separator: " ") {
            if !line.isEmpty && line.count + word.count + 1 > 96 - 2 * depth {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        lines.append(line)
        return lines.map { indent(depth) + "# " + $0 + "\n" }.joined()
    }
}
