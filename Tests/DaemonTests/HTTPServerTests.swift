// The API's HTTP server on its own, over a real Unix socket: the connection limit.
import XCTest
import Foundation
import NIOCore
@testable import ControlAPI

final class HTTPServerTests: XCTestCase {
    private func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        return fd
    }

    private func ask(_ fd: Int32) -> String {
        let request = Array("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8)
        _ = send(fd, request, request.count, Int32(MSG_NOSIGNAL))
        var all = [UInt8](), chunk = [UInt8](repeating: 0, count: 4096)
        while true { let n = recv(fd, &chunk, chunk.count, 0); if n <= 0 { break }; all += chunk.prefix(n) }
        return String(decoding: all, as: UTF8.self)
    }

    func testConnectionsBeyondTheLimitAreClosedAndTheOthersServed() async throws {
        let path = NSTemporaryDirectory() + "tapd-http-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        var server = HTTPServer(socketPath: path, maxBodySize: 1024, idleTimeout: .seconds(60),
                                respond: { _ in HTTPReply(contentType: "text/plain", body: ByteBuffer(string: "hello")) },
                                tooLarge: { HTTPReply(status: .payloadTooLarge, contentType: "text/plain", body: ByteBuffer()) })
        server.maxConnections = 2
        let ready = AsyncStream.makeStream(of: Void.self)
        let running = Task { [server] in try await server.run { ready.continuation.yield() } }
        for await _ in ready.stream { break }

        // Two clients connect and say nothing: they hold the two places.
        let a = connect(path), b = connect(path)
        try await Task.sleep(for: .milliseconds(200))
        // The third is closed without an answer.
        let c = connect(path)
        XCTAssertEqual(ask(c), "")
        close(c)
        // When one of the two leaves, a new client is served again.
        XCTAssertTrue(ask(a).hasPrefix("HTTP/1.1 200 OK"))
        close(a)
        var served = ""
        for _ in 0..<50 where !served.hasPrefix("HTTP/1.1 200") {
            let d = connect(path)
            served = ask(d)
            close(d)
            if !served.hasPrefix("HTTP/1.1 200") { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertTrue(served.hasSuffix("hello"), served)
        close(b)
        running.cancel()
        _ = try? await running.value
    }
}
