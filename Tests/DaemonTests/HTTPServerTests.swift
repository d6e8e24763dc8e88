// The API's HTTP server on its own, over a real Unix socket: the connection limit.

import Foundation
import NIOCore
import TestSupport
import XCTest

@testable import ControlAPI

final class HTTPServerTests: XCTestCase {
    private func ask(_ socket: RawUnixSocket) -> String {
        socket.send("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        return socket.readToClose()
    }

    func testConnectionsBeyondTheLimitAreClosedAndTheOthersServed() async throws {
        let path = NSTemporaryDirectory() + "tapd-http-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        var server = HTTPServer(
            socketPath: path, maxBodySize: 1024, idleTimeout: .seconds(60),
            respond: { _ in HTTPReply(contentType: "text/plain", body: ByteBuffer(string: "hello")) },
            tooLarge: { HTTPReply(status: .payloadTooLarge, contentType: "text/plain", body: ByteBuffer()) })
        server.maxConnections = 2
        let ready = AsyncStream.makeStream(of: Void.self)
        let running = Task { [server] in try await server.run { ready.continuation.yield() } }
        for await _ in ready.stream { break }

        // Two clients connect and keep their connections: each is answered once (so the server has surely taken
        // it, however loaded the machine), then holds its place.
        var a: RawUnixSocket? = RawUnixSocket(path, timeoutSeconds: 5)
        let b = RawUnixSocket(path, timeoutSeconds: 5)
        for client in [a!, b] {
            _ = client.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            var answer = ""
            for _ in 0..<100 where !answer.hasSuffix("hello") { answer += client.readSome() }
            XCTAssertTrue(answer.hasSuffix("hello"), answer)
        }
        // The third is closed without an answer.
        XCTAssertEqual(ask(RawUnixSocket(path, timeoutSeconds: 5)), "")
        // When one of the two leaves, a new client is served again.
        XCTAssertTrue(ask(a!).hasPrefix("HTTP/1.1 200 OK"))
        a = nil
        var served = ""
        for _ in 0..<50 where !served.hasPrefix("HTTP/1.1 200") {
            served = ask(RawUnixSocket(path, timeoutSeconds: 5))
            if !served.hasPrefix("HTTP/1.1 200") { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertTrue(served.hasSuffix("hello"), served)
        withExtendedLifetime(b) {}
        running.cancel()
        _ = try? await running.value
    }
}

/// The risk team's levers are not the point of sale's: SO_PEERCRED decides (root, tapd's own user, group tapd-risk).
final class RiskAccessTests: XCTestCase {
    func testOnlyRootTapdsUserAndTheRiskGroupMayPullTheLevers() {
        XCTAssertTrue(mayUseRiskControls(PeerCredentials(pid: 1, uid: 0, gid: 0)))
        XCTAssertTrue(mayUseRiskControls(PeerCredentials(pid: 1, uid: geteuid(), gid: getegid())))
        // nobody (65534), not in tapd-risk: refused; no credentials at all: refused.
        XCTAssertFalse(mayUseRiskControls(PeerCredentials(pid: 1, uid: 65534, gid: 65534)))
        XCTAssertFalse(mayUseRiskControls(nil))
    }
}
