import Glibc

/// Seconds on CLOCK_MONOTONIC: timers, ages, back-offs.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Now, in nanoseconds since the Unix epoch: records made in user space.
func realtimeNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Converts the kernel's boot-time clock (what records carry) to wall-clock time.
public struct WallClock: Sendable {
    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds.
    public private(set) var offsetNanoseconds: Int64

    public init(offsetNanoseconds: Int64) {
        self.offsetNanoseconds = offsetNanoseconds
    }

    /// Measures the offset now; call again per batch so a stepped clock is followed.
    public static func current() -> WallClock {
        WallClock(offsetNanoseconds: measureOffset())
    }

    public mutating func resynchronize() {
        offsetNanoseconds = Self.measureOffset()
    }

    private static func measureOffset() -> Int64 {
        var boot = timespec()
        var real = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        clock_gettime(CLOCK_REALTIME, &real)
        return (Int64(real.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + Int64(real.tv_nsec) - Int64(boot.tv_nsec)
    }

    public func unixNanoseconds(bootNanoseconds: UInt64) -> Int64 {
        Int64(bitPattern: bootNanoseconds) &+ offsetNanoseconds
    }
}

/// Now on CLOCK_BOOTTIME, the clock kernel records carry.
func bootNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_BOOTTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
