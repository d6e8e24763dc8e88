// The client tapctl and the demo use reads whatever the socket's peer sends: malformed answers end in an
// APIClientError, never a crash, a hang or unbounded memory.

import ControlAPI
import Foundation
import XCTest

final class APIClientTests: XCTestCase {
    /// A one-shot Unix-socket server that answers any request with `answer` (then closes, unless `keepOpen`).
    func serve(_ answer: Data, repeatForever: Bool = false) throws -> (path: String, stop: () -> Void) {
        let path = NSTemporaryDirectory() + "tapd-fake-\(UUID().uuidString.prefix(8)).sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        listen(fd, 4)
        let t = Thread {
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            var b = [UInt8](repeating: 0, count: 4096)
            _ = recv(c, &b, b.count, 0)
            repeat {
                let sent = answer.withUnsafeBytes { send(c, $0.baseAddress, answer.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
            } while repeatForever
            close(c)
        }
        t.start()
        return (
            path,
            {
                close(fd)
                unlink(path)
            }
        )
    }

    func expectError(_ answer: String, repeatForever: Bool = false, file: StaticString = #filePath, line: UInt = #line)
        async throws
    {
        let (path, stop) = try serve(Data(answer.utf8), repeatForever: repeatForever)
        defer { stop() }
        do {
            let r = try await APIClient(socketPath: path).get("/v1/status")
            XCTFail("accepted \(r.status)", file: file, line: line)
        } catch is APIClientError {
        }
    }

    func testMalformedAnswers() async throws {
        try await expectError("SSH-2.0-OpenSSH\r\n\r\n")  // not HTTP
        // absurd chunk size
        try await expectError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nxx")
        try await expectError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")  // not a chunk size
        try await expectError("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")  // closed early
        try await expectError(
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n" + String(repeating: "x", count: 65_536),
            repeatForever: true)
        try await expectError(String(repeating: "HTTP", count: 20_000), repeatForever: true)  // a head that never ends
        // a body that never ends
        try await expectError("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "y", count: 65_536), repeatForever: true)
        try await expectError("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}")  // negative length
        try await expectError("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n{}")  // not a number
        // A head that never ends, sent a few bytes at a time: refused at 1 MiB, in linear time (the search no longer
        // starts again at the first byte for every read).
        try await expectError("X-Padding: " + String(repeating: "a\r\n", count: 3), repeatForever: true)
    }

    func testAWellFormedAnswerStillReads() async throws {
        let (path, stop) = try serve(
            Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n".utf8))
        defer { stop() }
        let r = try await APIClient(socketPath: path).get("/v1/status")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual((r.json as? [String: Any])?["a"] as? Int, 1)
    }
}
