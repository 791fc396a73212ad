import Foundation

public enum CgroupMount {
    /// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup on current
    /// systems, /sys/fs/cgroup/unified on hybrid ones); nil if nowhere.
    public static func path() -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 2 && fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }
}
