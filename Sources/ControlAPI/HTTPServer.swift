// The API's HTTP/1.1 server on a Unix socket: SwiftNIO's HTTP/1 codec (llhttp parsing, framing, chunked encoding)
// with one task per connection through NIOAsyncChannel. It is small on purpose: the API has ten routes, one
// client class (the point of sale and tapctl on the same machine) and a memory budget, so it carries no router or
// service framework. What it guarantees:
// - a request body is at most `maxBodySize` bytes (413, RFC 9110 §15.5.14); heads are bounded by the codec
//   (80 KiB); a malformed request gets 400 and the connection is closed (NIO's protocol error handler);
// - keep-alive as the client asks (RFC 9112 §9.3), `Expect: 100-continue` answered (RFC 9110 §10.1.1);
// - a connection with nothing read or written for `idleTimeout` is closed, so a client that connects and says
//   nothing holds nothing; a streaming answer (Server-Sent Events) keeps itself alive by writing;
// - every answer carries `Date` (RFC 9110 §6.6.1, from the C library: no Foundation calendar, no ICU) and
//   `Server`; a slow reader only ever waits on its own connection's writes;
// - at most `maxConnections` connections at once; another one is closed at once, so a runaway client cannot take
//   the file descriptors the journal, the readers and the acquirer link need;
// - cancelling `run` stops accepting, ends streams and closes every connection.
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TapdCore

/// One request as the routes see it: the head, the whole (bounded) body and the connection it came on.
struct HTTPRequest: Sendable {
    var method: HTTPMethod
    /// The path without the query, as sent (not percent-decoded).
    let path: String
    /// Query parameters, percent-decoded; the first of a repeated name wins.
    let query: [String: String]
    let headers: HTTPHeaders
    let body: ByteBuffer
    let channel: any Channel

    init(head: HTTPRequestHead, body: ByteBuffer, channel: any Channel) {
        method = head.method
        headers = head.headers
        self.body = body
        self.channel = channel
        let uri = head.uri
        if let q = uri.firstIndex(of: "?") {
            path = String(uri[..<q])
            var query: [String: String] = [:]
            for pair in uri[uri.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String {
                    let p = s.replacingOccurrences(of: "+", with: " ")
                    return p.removingPercentEncoding ?? p
                }
                let key = decode(kv[0])
                if query[key] == nil { query[key] = kv.count > 1 ? decode(kv[1]) : "" }
            }
            self.query = query
        } else {
            path = uri
            query = [:]
        }
    }
}

/// One answer: status, headers, and either the whole body or a stream the handler writes as it goes.
struct HTTPReply: Sendable {
    enum Body: Sendable {
        case bytes(ByteBuffer)
        /// Written chunk by chunk (chunked transfer coding) until the closure returns or a write fails.
        case stream(@Sendable (StreamWriter) async throws -> Void)
    }
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body

    init(status: HTTPResponseStatus = .ok, contentType: String, body: ByteBuffer) {
        self.status = status
        headers = ["Content-Type": contentType]
        self.body = .bytes(body)
    }

    init(
        status: HTTPResponseStatus = .ok, headers: HTTPHeaders,
        stream: @escaping @Sendable (StreamWriter) async throws -> Void
    ) {
        self.status = status
        self.headers = headers
        body = .stream(stream)
    }

    /// Writes one piece of a streamed body; throws once the client has gone.
    struct StreamWriter: Sendable {
        fileprivate let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
        func write(_ text: String) async throws {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
        }
    }
}

struct HTTPServer: Sendable {
    let socketPath: String
    let maxBodySize: Int
    let idleTimeout: TimeAmount
    var maxConnections = 512
    /// Larger body limits for named paths (a whole exception file), over `maxBodySize`.
    var bodyLimits: [String: Int] = [:]
    let respond: @Sendable (HTTPRequest) async -> HTTPReply
    /// Called for a body over the limit instead of `respond`.
    let tooLarge: @Sendable () -> HTTPReply

    /// A body this far over the limit is not read to its end to keep the connection: the connection is closed.
    static let drainLimit = 1 << 20

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Listen on TCP instead of the Unix socket (the metrics listener).
    var tcp: (host: String, port: Int)? = nil

    /// Serves until the task is cancelled. `onReady` runs once the socket is bound.
    func run(onReady: @Sendable () async -> Void) async throws {
        let idle = idleTimeout
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.configureHTTPServerPipeline(withErrorHandling: true)
                try sync.addHandler(IdleStateHandler(allTimeout: idle))
                try sync.addHandler(CloseWhenIdle())
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
        let server: NIOAsyncChannel<Connection, Never>
        if let tcp {
            server = try await bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: tcp.host, port: tcp.port, childChannelInitializer: initializer)
        } else {
            server = try await bootstrap.bind(
                unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true, childChannelInitializer: initializer)
        }
        let open = ConnectionCount()
        do {
            try await serveConnections(server, open: open, onReady: onReady)
        } catch  where Task.isCancelled {
            // Asked to stop: the accept loop ends with a CancellationError; that is the normal way out.
        }
    }

    private func serveConnections(
        _ server: NIOAsyncChannel<Connection, Never>, open: ConnectionCount,
        onReady: @Sendable () async -> Void
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                await onReady()
                for try await connection in connections {
                    guard open.enter(limit: maxConnections) else {
                        group.addTask { try? await connection.executeThenClose { _, _ in } }  // closed unanswered
                        continue
                    }
                    group.addTask {
                        defer { open.leave() }
                        await serve(connection)
                    }
                }
            }
            // Accepting has stopped (cancellation): the connections' tasks, cancelled with this one, end now.
        }
    }

    private func serve(_ connection: Connection) async {
        let channel = connection.channel
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            var received = 0
            var limit = maxBodySize
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                    received = 0
                    let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
                    limit = bodyLimits[path] ?? maxBodySize
                    if h.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                        let announced = h.headers["content-length"].first.flatMap { Int($0) } ?? 0
                        if announced <= limit {
                            try await outbound.write(.head(HTTPResponseHead(version: h.version, status: .continue)))
                        }
                    }
                case .body(var chunk):
                    received += chunk.readableBytes
                    if received <= limit {
                        body.writeBuffer(&chunk)
                    } else if received > limit + Self.drainLimit {
                        // Do not read a flood to its end: answer and close.
                        _ = try await write(
                            tooLarge(), version: head?.version ?? .http1_1, keepAlive: false, headOnly: false, outbound)
                        return
                    }
                case .end:
                    guard let h = head else { continue }
                    head = nil
                    // HEAD is answered as GET without the body (RFC 9110 §9.3.2).
                    var asked = HTTPRequest(head: h, body: body, channel: channel)
                    if h.method == .HEAD { asked.method = .GET }
                    let reply = received > limit ? tooLarge() : await respond(asked)
                    let keepAlive = h.isKeepAlive && !Task.isCancelled
                    let reusable = try await write(
                        reply, version: h.version, keepAlive: keepAlive, headOnly: h.method == .HEAD, outbound)
                    if !reusable { return }
                }
            }
        }
    }

    /// Writes one answer; returns whether the connection can carry another request.
    private func write(
        _ reply: HTTPReply, version: HTTPVersion, keepAlive: Bool, headOnly: Bool,
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> Bool {
        var headers = reply.headers
        headers.replaceOrAdd(name: "Date", value: APITimestamp.httpDate(Date()))
        headers.replaceOrAdd(name: "Server", value: "tapd")
        switch reply.body {
        case .bytes(let bytes):
            headers.replaceOrAdd(name: "Content-Length", value: String(bytes.readableBytes))
            if !keepAlive {
                headers.replaceOrAdd(name: "Connection", value: "close")
            } else if version == .http1_0 {
                headers.replaceOrAdd(name: "Connection", value: "keep-alive")
            }
            let head = HTTPServerResponsePart.head(
                HTTPResponseHead(version: version, status: reply.status, headers: headers))
            try await outbound.write(
                contentsOf: headOnly ? [head, .end(nil)] : [head, .body(.byteBuffer(bytes)), .end(nil)])
            return keepAlive
        case .stream(let produce):
            // No Content-Length: NIO frames the body with chunked coding on HTTP/1.1; an HTTP/1.0 client reads to close.
            if version == .http1_0 { headers.replaceOrAdd(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: version, status: reply.status, headers: headers)))
            if !headOnly { try await produce(HTTPReply.StreamWriter(outbound: outbound)) }
            try await outbound.write(.end(nil))
            return keepAlive && version != .http1_0  // an HTTP/1.0 stream ends where the connection does
        }
    }
}

/// Closes a connection on which nothing was read or written for the idle timeout.
private final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// The number of open connections.
private final class ConnectionCount: @unchecked Sendable {
    private let lock = NSLock()
    private var open = 0
    func enter(limit: Int) -> Bool {
        lock.withLock {
            guard open < limit else { return false }
            open += 1
            return true
        }
    }
    func leave() { lock.withLock { open -= 1 } }
}
