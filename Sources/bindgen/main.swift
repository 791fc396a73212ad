import ArgumentParser
import CIOUringBind
import Foundation

/// Makes real bind() calls for bindsnoop's tests and benchmarks: one
/// configurable socket shape, `--count` times, on `--threads` threads.
@main
struct BindGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bindgen",
        abstract: "Make real bind() calls (bindsnoop's test and benchmark load generator).",
        discussion: "Prints one line per bind unless --quiet: 'ok PORT' or 'err ERRNO', then a JSON summary with --summary."
    )

    @Option(help: "Address family: 4 or 6.") var family: Int = 4
    @Option(name: .customLong("proto"), help: "Transport: tcp or udp.") var transport: String = "tcp"
    @Option(help: "Address to bind (default: any).") var addr: String?
    @Option(help: "Port to bind (0: kernel assigns one).") var port: UInt16 = 0
    @Option(help: "Binds per thread.") var count: Int = 1
    @Option(help: "Threads making binds.") var threads: Int = 1
    @Option(help: "Socket options before bind: freebind,transparent,bind_address_no_port,reuseaddr,reuseport.")
    var opt: String = ""
    @Option(help: "SO_BINDTODEVICE interface name.") var device: String?
    @Option(help: "Switch to this uid before binding.") var uid: UInt32?
    @Flag(help: "Submit the bind through io_uring (IORING_OP_BIND, Linux 6.11+) instead of bind(2).")
    var ioUring = false
    @Flag(help: "Keep every socket open until the end (a second bind to a fixed port then fails).") var keep = false
    @Flag(help: "Print nothing per bind.") var quiet = false
    @Option(help: "Milliseconds to sleep after each bind (a slow, steady process).") var pauseMs: UInt32 = 0
    @Flag(help: "Print a JSON summary (binds, failures, seconds) at the end.") var summary = false
    @Flag(help: "Wait for a line on stdin before binding (lets a test attach a tracer filtered to this pid).")
    var waitStdin = false
    @Option(help: "Set the thread's comm to these hex-encoded bytes first (hostile names for tests).")
    var commHex: String?
    @Option(help: ArgumentHelp("Instead of binding: time N getppid() calls and print {\"getppid_ns\":…} (the tax a tracer puts on unrelated system calls).", valueName: "N"))
    var getppid: Int?
    @Option(help: ArgumentHelp("Instead of binding: N TCP client sockets connected to a listener of its own on 127.0.0.1 and closed (never bound: ports from connect), and print {\"connects\":N,\"seconds\":…}.", valueName: "N"))
    var connect: Int?

    mutating func run() throws {
        if let uid {
            guard setgid(65534) == 0 || getegid() == 65534, setuid(uid) == 0 else {
                throw ValidationError("setuid(\(uid)) failed: \(String(cString: strerror(errno)))")
            }
        }
        if waitStdin { _ = readLine() }
        if let getppid {
            print("{\"getppid_ns\":\(timeGetppid(calls: max(getppid, 1)))}")
            return
        }
        if let connect {
            let seconds = try connectStorm(count: max(connect, 1))
            print("{\"connects\":\(connect),\"seconds\":\(seconds)}")
            return
        }
        if let commHex { try setComm(hex: commHex) }
        let plan = try BindPlan(family: family, transport: transport, address: addr, port: port,
                                options: opt, device: device, ioUring: ioUring)
        let start = Date()
        let results = runThreads(plan: plan)
        let elapsed = Date().timeIntervalSince(start)
        if !quiet {
            print(results.lines.joined(separator: "\n"))
        }
        if summary {
            print("{\"binds\":\(results.binds),\"failures\":\(results.failures),\"seconds\":\(elapsed),\"pid\":\(getpid())}")
        }
    }

    private func runThreads(plan: BindPlan) -> (binds: Int, failures: Int, lines: [String]) {
        let totals = Totals()
        let group = DispatchGroup()
        let (count, keep, quiet, pause) = (self.count, self.keep, self.quiet, self.pauseMs)
        for _ in 0..<max(threads, 1) {
            group.enter()
            Thread {
                var kept: [Int32] = []
                var local: [String] = []
                var localFailures = 0
                for _ in 0..<count {
                    let (fd, outcome) = plan.bindOnce()
                    if case .failure = outcome { localFailures += 1 }
                    if !quiet { local.append(outcome.line) }
                    if keep { kept.append(fd) } else if fd >= 0 { close(fd) }
                    if pause > 0 { usleep(pause * 1000) }
                }
                totals.add(binds: count, failures: localFailures, lines: local)
                kept.forEach { close($0) }
                group.leave()
            }.start()
        }
        group.wait()
        return totals.snapshot()
    }
}

/// Nanoseconds per getppid(2), the cheapest system call: what remains is
/// the entry and exit path, which an enabled syscall tracepoint slows.
func timeGetppid(calls: Int) -> Double {
    var start = timespec(), end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    for _ in 0..<calls { _ = Glibc.getppid() }  // glibc does not cache it: one system call each
    clock_gettime(CLOCK_MONOTONIC, &end)
    let nanoseconds = Double(end.tv_sec - start.tv_sec) * 1e9 + Double(end.tv_nsec - start.tv_nsec)
    return (nanoseconds / Double(calls) * 10).rounded() / 10
}

/// `count` client sockets connected to a loopback listener (which a second
/// thread accepts and closes) and closed; the seconds it took.
func connectStorm(count: Int) throws -> Double {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listener, $0, length) == 0 && listen(listener, 4096) == 0 && getsockname(listener, $0, &length) == 0
        }
    }
    guard listener >= 0, listening else { throw ValidationError("listener: \(String(cString: strerror(errno)))") }
    let acceptor = Thread {
        for _ in 0..<count {
            let accepted = accept(listener, nil, nil)
            if accepted >= 0 { close(accepted) }
        }
    }
    acceptor.start()
    let start = Date()
    for _ in 0..<count {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(client, $0, length) }
        }
        let failure = errno
        close(client)
        guard connected == 0 else { throw ValidationError("connect: \(String(cString: strerror(failure)))") }
    }
    let seconds = Date().timeIntervalSince(start)
    close(listener)
    return seconds
}

/// Results gathered from the threads.
final class Totals: @unchecked Sendable {
    private let lock = NSLock()
    private var binds = 0, failures = 0
    private var lines: [String] = []

    func add(binds: Int, failures: Int, lines: [String]) {
        lock.withLock {
            self.binds += binds
            self.failures += failures
            self.lines += lines
        }
    }

    func snapshot() -> (binds: Int, failures: Int, lines: [String]) {
        lock.withLock { (binds, failures, lines) }
    }
}

/// Writes /proc/self/comm (what prctl(PR_SET_NAME) sets; threads started
/// afterwards inherit it): the kernel keeps up to 15 bytes, any but NUL.
func setComm(hex: String) throws {
    var bytes: [UInt8] = []
    var digits = hex.makeIterator()
    while let high = digits.next() {
        guard let low = digits.next(), let byte = UInt8("\(high)\(low)", radix: 16), byte != 0 else {
            throw ValidationError("--comm-hex must be pairs of hex digits, no 00")
        }
        bytes.append(byte)
    }
    let fd = open("/proc/self/comm", O_WRONLY)
    guard fd >= 0, write(fd, bytes, bytes.count) == bytes.count else {
        throw ValidationError("writing /proc/self/comm failed: \(String(cString: strerror(errno)))")
    }
    close(fd)
}

enum BindOutcome {
    case success(port: UInt16)
    case failure(errno: Int32)

    var line: String {
        switch self {
        case .success(let port): "ok \(port)"
        case .failure(let errno): "err \(errno)"
        }
    }
}

struct BindPlan: Sendable {
    let family: Int32
    let type: Int32
    let address: [UInt8]  // a sockaddr_in or sockaddr_in6
    let options: [Int32: Int32]  // (level << 16 | name) → value
    let device: String?
    let ioUring: Bool

    init(family: Int, transport: String, address: String?, port: UInt16, options: String, device: String?,
         ioUring: Bool) throws {
        self.ioUring = ioUring
        guard family == 4 || family == 6 else { throw ValidationError("--family must be 4 or 6") }
        self.family = family == 4 ? AF_INET : AF_INET6
        switch transport {
        case "tcp": type = Int32(SOCK_STREAM.rawValue)
        case "udp": type = Int32(SOCK_DGRAM.rawValue)
        default: throw ValidationError("--proto must be tcp or udp")
        }
        if family == 4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            if let address, inet_pton(AF_INET, address, &sin.sin_addr) != 1 {
                throw ValidationError("--addr \(address) is not an IPv4 address")
            }
            self.address = withUnsafeBytes(of: sin) { Array($0) }
        } else {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            if let address, inet_pton(AF_INET6, address, &sin6.sin6_addr) != 1 {
                throw ValidationError("--addr \(address) is not an IPv6 address")
            }
            self.address = withUnsafeBytes(of: sin6) { Array($0) }
        }
        var chosen: [Int32: Int32] = [:]
        for name in options.split(separator: ",") {
            switch name {
            case "freebind": chosen[Int32(IPPROTO_IP) << 16 | IP_FREEBIND] = 1
            case "transparent": chosen[Int32(IPPROTO_IP) << 16 | IP_TRANSPARENT] = 1
            case "bind_address_no_port": chosen[Int32(IPPROTO_IP) << 16 | 24] = 1  // IP_BIND_ADDRESS_NO_PORT
            case "reuseaddr": chosen[SOL_SOCKET << 16 | SO_REUSEADDR] = 1
            case "reuseport": chosen[SOL_SOCKET << 16 | SO_REUSEPORT] = 1
            default: throw ValidationError("unknown --opt \(name)")
            }
        }
        self.options = chosen
        self.device = device
    }

    func bindOnce() -> (Int32, BindOutcome) {
        let fd = socket(family, type, 0)
        guard fd >= 0 else { return (-1, .failure(errno: errno)) }
        for (key, value) in options {
            var v = value
            setsockopt(fd, key >> 16, key & 0xFFFF, &v, socklen_t(MemoryLayout<Int32>.size))
        }
        if let device {
            _ = device.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
        }
        let rc = address.withUnsafeBytes { raw -> Int32 in
            if ioUring {
                let result = bindgen_io_uring_bind(fd, raw.baseAddress, UInt32(raw.count))
                errno = -result
                return result == 0 ? 0 : -1
            }
            return bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        guard rc == 0 else { return (fd, .failure(errno: errno)) }
        var bound = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, .success(port: UInt16(bigEndian: bound.sin6_port)))
    }
}
