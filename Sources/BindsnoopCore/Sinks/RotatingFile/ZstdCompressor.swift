import CZstd
import Glibc

/// Compresses one file with libzstd's streaming API into `name.zst`: written
/// as `name.zst.tmp`, synced, then renamed, so a `.zst` is always complete;
/// the source is removed only after that.
public struct ZstdCompressor: Sendable {
    public var level: Int32
    public var mode: mode_t

    public init(level: Int32, mode: mode_t) {
        self.level = level
        self.mode = mode
    }

    public enum Failure: Error, CustomStringConvertible {
        case io(String, Int32)
        case zstd(String)

        public var description: String {
            switch self {
            case .io(let what, let errno): "\(what): \(errorName(errno))"
            case .zstd(let message): "zstd: \(message)"
            }
        }
    }

    /// Returns the compressed file's path. `level` overrides the configured one.
    @discardableResult
    public func compress(_ path: String, level: Int32? = nil) throws(Failure) -> String {
        let target = path + ".zst"
        let temporary = target + ".tmp"
        let input = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else { throw .io("open \(path)", errno) }
        defer { Glibc.close(input) }
        unlink(temporary)
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard output >= 0 else { throw .io("create \(temporary)", errno) }
        do throws(Failure) {
            defer { Glibc.close(output) }  // exactly once: a second close could hit a reused descriptor
            try stream(from: input, to: output, name: temporary, level: level ?? self.level)
            guard fsync(output) == 0 else { throw .io("fsync \(temporary)", errno) }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let reason = errno
            unlink(temporary)
            throw .io("rename \(temporary)", reason)
        }
        unlink(path)
        return target
    }

    private func stream(from input: Int32, to output: Int32, name: String, level: Int32) throws(Failure) {
        guard let context = ZSTD_createCCtx() else { throw .zstd("cannot create a context") }
        let inBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamInSize(), alignment: 16)
        let outBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        defer {
            ZSTD_freeCCtx(context)
            inBuffer.deallocate()
            outBuffer.deallocate()
        }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        while true {
            let n = read(input, inBuffer.baseAddress, inBuffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("read", errno)
            }
            let last = n == 0
            var source = ZSTD_inBuffer(src: inBuffer.baseAddress, size: n, pos: 0)
            var finished = false
            repeat {
                var sink = ZSTD_outBuffer(dst: outBuffer.baseAddress, size: outBuffer.count, pos: 0)
                let remaining = ZSTD_compressStream2(context, &sink, &source, last ? ZSTD_e_end : ZSTD_e_continue)
                if ZSTD_isError(remaining) != 0 {
                    throw .zstd(String(cString: ZSTD_getErrorName(remaining)))
                }
                if sink.pos > 0 {
                    do throws(Errno) {
                        try writeAll(fd: output, UnsafeRawBufferPointer(rebasing: outBuffer[0..<sink.pos]))
                    } catch {
                        throw .io("write \(name)", error.code)
                    }
                }
                finished = last ? remaining == 0 : source.pos == source.size
            } while !finished
            if last { return }
        }
    }
}
