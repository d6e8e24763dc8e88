// The client of tapd's local API on its Unix socket, used by tapctl and by `tapd demo` (which drives its own daemon
// the way a point of sale would): HTTP/1.1 by SwiftNIO's client codec (NIOHTTP1), one connection per request, the
// answers bounded in size and time. Typed calls take and return the same Codable models the server answers with
// (TransactionView, Receipt, Report, …), so client and server cannot drift apart; `request` returns the raw answer.

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TapdCore

/// A failure of the local API client: socket, connection, timeout, or an answer that is not valid HTTP.
public struct APIClientError: Error, CustomStringConvertible {
    /// What went wrong in words; a failed connect suggests why (is tapd running, is the user in the group).
    public let description: String
}

/// The error body of a 4xx/5xx answer: `{"error": {"code": …, "message": …}}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    /// The code and the message in words.
    public struct Detail: Codable, Sendable, Equatable {
        /// A stable code: invalid_request, conflict, not_found, unavailable, forbidden, …
        public var code: String
        /// What went wrong, for a person.
        public var message: String
    }
    /// The error.
    public var error: Detail
}

/// An answer with an HTTP error status to a typed call: the status and tapd's error body.
public struct APIError: Error, CustomStringConvertible {
    /// The HTTP status (4xx refused, 5xx tapd could not).
    public let status: Int
    /// tapd's error, when the body held one.
    public let body: APIErrorBody?
    /// The message tapd gave, or the status.
    public var description: String { body?.error.message ?? "HTTP \(status)" }
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
    public var errorMessage: String? { (try? JSONDecoder().decode(APIErrorBody.self, from: body))?.error.message }
}

/// HTTP/1.1 client for tapd's local API on its Unix socket, one connection per request (tapctl, `tapd demo`).
public struct APIClient: Sendable {
    /// Path of tapd's API socket (`[daemon] socket`, by default /run/tapd/api.sock).
    public let socketPath: String
    /// Limit on a whole request, answer included (default 30 s); `events` has none.
    public var timeout: Duration = .seconds(30)
    /// Largest answer accepted: a misbehaving peer cannot make the client grow without end.
    public static let maxAnswer = 16 << 20

    /// A client for the socket at `socketPath`; nothing connects until a request.
    public init(socketPath: String) { self.socketPath = socketPath }

    // MARK: Typed calls

    /// The decoder of the API's JSON: snake_case keys are the models' own CodingKeys; dates as "…T…Z" in UTC.
    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = APIDate.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a UTC timestamp: \(text)")
            }
            return date
        }
        return d
    }()

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// `method path` with `body` encoded as JSON; the answer decoded as `T`. An HTTP error status throws `APIError`,
    /// a failed exchange or an answer that is not a `T` throws `APIClientError`.
    public func call<T: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (some Encodable)? = nil as Empty?, as type: T.Type = T.self
    ) async throws -> T {
        let data = try body.map { try Self.encoder.encode($0) }
        let r = try await request(method.rawValue, path, body: data)
        return try Self.decode(T.self, r)
    }

    /// An answer as `T`, or its error.
    public static func decode<T: Decodable>(_ type: T.Type, _ r: APIResponse) throws -> T {
        guard r.status < 400 else {
            throw APIError(status: r.status, body: try? JSONDecoder().decode(APIErrorBody.self, from: r.body))
        }
        do { return try decoder.decode(T.self, from: r.body) } catch {
            throw APIClientError(description: "tapd's answer is not what the API describes: \(error)")
        }
    }

    /// An empty request body.
    public struct Empty: Codable, Sendable {}

    // MARK: Raw calls

    /// Sends `GET path` and returns the answer; throws `APIClientError` when the exchange fails.
    public func get(_ path: String) async throws -> APIResponse { try await request("GET", path) }

    /// Sends `POST path` with `json` as the body (keys sorted), or an empty body when nil; throws when `json`
    /// cannot be serialised or the exchange fails.
    public func post(_ path: String, json: [String: Any]? = nil) async throws -> APIResponse {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
        return try await request("POST", path, body: body)
    }

    /// Sends one request on a new connection and reads the whole answer; `body` goes as JSON. Throws
    /// `APIClientError` when the exchange fails (or takes longer than `timeout`); an HTTP error status is returned,
    /// not thrown.
    public func request(_ method: String, _ path: String, body: Data? = nil) async throws -> APIResponse {
        let channel = try await connect()
        return try await withThrowingTaskGroup(of: APIResponse?.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await Self.send(method, path, body: body, outbound)
                    var status = 0
                    var answer = ByteBuffer()
                    for try await part in inbound {
                        switch part {
                        case .head(let head): status = Int(head.status.code)
                        case .body(var chunk):
                            guard answer.readableBytes + chunk.readableBytes <= Self.maxAnswer else {
                                throw APIClientError(description: "answer too large")
                            }
                            answer.writeBuffer(&chunk)
                        case .end: return APIResponse(status: status, body: Data(answer.readableBytesView))
                        }
                    }
                    throw APIClientError(description: "tapd closed the connection before its answer ended")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            do {
                guard let first = try await group.next(), let r = first else {
                    channel.channel.close(promise: nil)
                    throw APIClientError(description: "tapd did not answer in time")
                }
                return r
            } catch let e as APIClientError { throw e } catch {
                channel.channel.close(promise: nil)
                throw APIClientError(description: Self.words(error))
            }
        }
    }

    /// Streams /v1/events until `handler` returns false or the connection ends. Each event: (type, JSON data).
    public func events(replay: Int = 0, _ handler: @escaping @Sendable (String, Data) -> Bool) async throws {
        let channel = try await connect()
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await Self.send("GET", "/v1/events?replay=\(replay)", body: nil, outbound)
                var type = "message"
                var data = Data()
                var pending = Data()
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        guard head.status == .ok else {
                            throw APIClientError(description: "events: HTTP \(head.status.code)")
                        }
                    case .body(let chunk):
                        pending += Data(chunk.readableBytesView)
                        guard pending.count < Self.maxAnswer else {
                            throw APIClientError(description: "an event line too long")
                        }
                        while let nl = pending.firstIndex(of: 0x0A) {
                            let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                            pending = Data(pending[(nl + 1)...])
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
                    case .end: return
                    }
                }
            }
        } catch let e as APIClientError { throw e } catch is CancellationError { return } catch {
            throw APIClientError(description: Self.words(error))
        }
    }

    // MARK: The connection

    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// A new connection to the socket with the HTTP/1.1 client codec; a failed connect says why in words.
    func connect() async throws -> Connection {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(unixDomainSocketPath: socketPath) { ch in
                    ch.eventLoop.makeCompletedFuture {
                        // The answer head is bounded by the decoder (80 KiB by default), the body here.
                        try ch.pipeline.syncOperations.addHTTPClientHandlers()
                        return try Connection(wrappingChannelSynchronously: ch)
                    }
                }
        } catch {
            var why = "cannot connect to \(socketPath): \(Self.words(error))"
            if let io = error as? IOError {
                switch io.errnoCode {
                case ENOENT, ECONNREFUSED: why += " (is tapd running?)"
                case EACCES: why += " (is your user in the tapd group?)"
                default: break
                }
            }
            throw APIClientError(description: why)
        }
    }

    static func send(
        _ method: String, _ path: String, body: Data?, _ outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    ) async throws {
        var headers = HTTPHeaders([("Host", "tapd"), ("User-Agent", "tapctl"), ("Connection", "close")])
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
        } else if method == "POST" || method == "PUT" {
            headers.add(name: "Content-Length", value: "0")
        }
        try await outbound.write(
            .head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers))
        )
        if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))
    }

    /// An error of the exchange in words (the codec's errors name what the peer sent wrong).
    static func words(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if error is HTTPParserError { return "not a valid HTTP answer (\(error))" }
        return "\(error)"
    }
}
