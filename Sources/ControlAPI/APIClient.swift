// A small HTTP/1.1 client for tapd's Unix socket, used by tapctl and by `tapd demo` (which drives its own daemon the
// way a point of sale would). One connection per request (Connection: close); Content-Length and chunked bodies;
// Server-Sent Events streamed line by line. Blocking socket calls run on a queue of their own.

import Dispatch
import Foundation

/// A failure of the local API client: socket, connection, timeout, or an answer that is not valid HTTP.
public struct APIClientError: Error, CustomStringConvertible {
    /// What went wrong in words; a failed connect suggests why (is tapd running, is the user in the group).
    public let description: String
}

/// One HTTP answer from tapd's local API.
public struct APIResponse: Sendable {
    /// The HTTP status code; 4xx and 5xx answers are returned, not thrown.
    public let status: Int
    /// The body, with chunked transfer encoding already undone.
    public let body: Data
    /// The body parsed as JSON; nil when it is not JSON.
    public var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    /// The error message of a 4xx/5xx answer ({"error": {"message": …}}).
    public var errorMessage: String? {
        ((json as? [String: Any])?["error"] as? [String: Any])?["message"] as? String
    }
}

/// HTTP/1.1 client for tapd's local API on its Unix socket, one connection per request (tapctl, `tapd demo`).
public struct APIClient: Sendable {
    /// Path of tapd's API socket (`[daemon] socket`, by default /run/tapd/api.sock).
    public let socketPath: String
    /// Limit on each socket read and write of a request, in whole seconds (default 30 s); `events` has none.
    public var timeout: Duration = .seconds(30)

    /// A client for the socket at `socketPath`; nothing connects until a request.
    public init(socketPath: String) { self.socketPath = socketPath }

    /// Sends `GET path` and returns the answer; throws `APIClientError` when the exchange fails.
    public func get(_ path: String) async throws -> APIResponse { try await request("GET", path) }

    /// Sends `POST path` with `json` as the body (keys sorted), or an empty body when nil; throws when `json`
    /// cannot be serialised or the exchange fails.
    public func post(_ path: String, json: [String: Any]? = nil) async throws -> APIResponse {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
        return try await request("POST", path, body: body)
    }

    /// Sends one request on a new connection and reads the whole answer; `body` goes as JSON. Throws
    /// `APIClientError` when the exchange fails; an HTTP error status is returned, not thrown.
    public func request(_ method: String, _ path: String, body: Data? = nil) async throws -> APIResponse {
        let socketPath = self.socketPath
        let timeout = self.timeout
        return try await withCheckedThrowingContinuation { k in
            DispatchQueue.global().async {
                k.resume(
                    with: Result {
                        let c = try Connection(path: socketPath, timeout: timeout)
                        defer { c.close() }
                        try c.send(method, path, body: body)
                        return try c.readResponse()
                    })
            }
        }
    }

    /// Streams /v1/events until `handler` returns false or the connection ends. Each event: (type, JSON data).
    public func events(replay: Int = 0, _ handler: @escaping @Sendable (String, Data) -> Bool) async throws {
        let socketPath = self.socketPath
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                k.resume(
                    with: Result {
                        let c = try Connection(path: socketPath, timeout: nil)
                        defer { c.close() }
                        try c.send("GET", "/v1/events?replay=\(replay)", body: nil)
                        let (status, headers) = try c.readHead()
                        guard status == 200 else { throw APIClientError(description: "events: HTTP \(status)") }
                        let chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") == true
                        var type = "message"
                        var data = Data()
                        var pending = Data()
                        while let piece = try (chunked ? c.readChunk() : c.readSome()) {
                            pending += piece
                            while let nl = pending.firstIndex(of: 0x0A) {
                                let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                                pending = pending[(nl + 1)...]
                                if line.isEmpty {
                                    if !data.isEmpty, !handler(type, data) { return }
                                    type = "message"
                                    data = Data()
                                } else if line.hasPrefix("event: ") {
                                    type = String(line.dropFirst(7))
                                } else if line.hasPrefix("data: ") {
                                    data += Data(line.dropFirst(6).utf8)
                                }
                            }
                        }
                    })
            }
            thread.start()
        }
    }
}

/// One blocking connection to a Unix socket.
final class Connection {
    let fd: Int32
    private var buffer = Data()

    init(path: String, timeout: Duration?) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw APIClientError(description: "socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw APIClientError(description: "socket path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        if let timeout {
            var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        let rv = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rv == 0 else {
            let e = errno
            Glibc.close(fd)
            throw APIClientError(
                description: "cannot connect to \(path): \(String(cString: strerror(e)))"
                    + (e == ENOENT || e == ECONNREFUSED
                        ? " (is tapd running?)" : e == EACCES ? " (is your user in the tapd group?)" : ""))
        }
    }

    func close() { Glibc.close(fd) }

    func send(_ method: String, _ path: String, body: Data?) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: tapd\r\nConnection: close\r\nUser-Agent: tapctl\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        } else if method == "POST" {
            head += "Content-Length: 0\r\n"
        }
        let all = Data((head + "\r\n").utf8) + (body ?? Data())
        var sent = 0
        while sent < all.count {
            let n = all.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, all.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw APIClientError(description: "send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    /// Largest answer accepted: a misbehaving peer cannot make the client grow without end.
    static let maxAnswer = 16 << 20

    /// Bytes straight from the socket (nil at the end of the stream).
    private func receive() throws -> Data? {
        var b = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = recv(fd, &b, b.count, 0)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw APIClientError(description: "tapd did not answer in time")
                }
                throw APIClientError(description: "recv: \(String(cString: strerror(errno)))")
            }
            return n == 0 ? nil : Data(b.prefix(n))
        }
    }

    /// More bytes: what is buffered first, then the socket (nil at the end).
    func readSome() throws -> Data? {
        if !buffer.isEmpty {
            defer { buffer = Data() }
            return buffer
        }
        return try receive()
    }

    private func fill(until condition: (Data) -> Bool) throws {
        while !condition(buffer) {
            guard let more = try receive() else { throw APIClientError(description: "tapd closed the connection") }
            buffer += more
            guard buffer.count < Self.maxAnswer else { throw APIClientError(description: "answer too large") }
        }
    }

    /// Reads until `delimiter` is buffered and returns where it is. Each read searches only the new bytes (and the
    /// few before them that could start the delimiter), so a peer that never sends it costs linear time, and
    /// gives up once `limit` bytes are buffered.
    private func fill(toDelimiter delimiter: Data, limit: Int, what: String) throws -> Range<Data.Index> {
        var from = buffer.startIndex
        while true {
            if let r = buffer.range(of: delimiter, in: from..<buffer.endIndex) { return r }
            guard buffer.count < limit else { throw APIClientError(description: "\(what) too large") }
            // Appending keeps the buffer's indices, so `from` still points at the same byte afterwards.
            from =
                buffer.index(buffer.endIndex, offsetBy: -(delimiter.count - 1), limitedBy: buffer.startIndex)
                ?? buffer.startIndex
            guard let more = try receive() else { throw APIClientError(description: "tapd closed the connection") }
            buffer += more
        }
    }

    /// tapd's answers have heads of a few hundred bytes (its server refuses requests with more than 80 KiB).
    static let maxHead = 1 << 20

    func readHead() throws -> (Int, [String: String]) {
        let end = try fill(toDelimiter: Data("\r\n\r\n".utf8), limit: Self.maxHead, what: "answer head")
        let head = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
        buffer = Data(buffer[end.upperBound...])
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw APIClientError(description: "not an HTTP answer")
        }
        var headers: [String: String] = [:]
        for l in lines {
            if let c = l.firstIndex(of: ":") {
                headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (status, headers)
    }

    /// One chunk of a chunked body (nil after the last).
    func readChunk() throws -> Data? {
        let r = try fill(toDelimiter: Data("\r\n".utf8), limit: Self.maxAnswer, what: "chunk")
        let sizeText =
            String(decoding: buffer[buffer.startIndex..<r.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
        guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16),
            (0..<Self.maxAnswer).contains(size)
        else {
            throw APIClientError(description: "bad chunk")
        }
        buffer = Data(buffer[r.upperBound...])
        if size == 0 { return nil }
        try fill { $0.count >= size + 2 }
        let chunk = Data(buffer.prefix(size))
        buffer = Data(buffer.dropFirst(size + 2))
        return chunk
    }

    func readResponse() throws -> APIResponse {
        let (status, headers) = try readHead()
        var body = Data()
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while let c = try readChunk() {
                body += c
                guard body.count < Self.maxAnswer else { throw APIClientError(description: "answer too large") }
            }
        } else if let text = headers["content-length"] {
            guard let l = Int(text), (0..<Self.maxAnswer).contains(l) else {
                throw APIClientError(description: "bad Content-Length \(text.prefix(24))")
            }
            try fill { $0.count >= l }
            body = Data(buffer.prefix(l))
        } else {
            while let more = try readSome() {
                body += more
                guard body.count < Self.maxAnswer else { throw APIClientError(description: "answer too large") }
            }
        }
        return APIResponse(status: status, body: body)
    }
}
