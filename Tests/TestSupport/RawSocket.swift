// A plain client on a Unix stream socket, for tests that speak HTTP byte by byte (framing, malformed input,
// connections that say nothing) where tapd's own client would be too polite.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class RawUnixSocket {
    public let fd: Int32

    /// Connects to `path`; reads give up after `timeoutSeconds` without data.
    public init(_ path: String, timeoutSeconds: Int = 10) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in path.utf8.enumerated() where i < p.count - 1 { p[i] = b }
        }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    deinit { close(fd) }

    /// Sends `text`; the number of bytes sent, or -1 once the peer has gone (no SIGPIPE).
    @discardableResult
    public func send(_ text: String) -> Int {
        let bytes = Array(text.utf8)
        return Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }

    /// Everything until the peer closes (or the read timeout passes).
    public func readToClose() -> String {
        var all = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            all += chunk.prefix(n)
        }
        return String(decoding: all, as: UTF8.self)
    }

    /// What one read returns ("" at the end or after the timeout).
    public func readSome() -> String {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        return n > 0 ? String(decoding: chunk.prefix(n), as: UTF8.self) : ""
    }
}
