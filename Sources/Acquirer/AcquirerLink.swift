// The connection to the acquirer: TLS, framing, and matching each answer to its request by (MTI class, DE 41,
// DE 11) on the connection it was sent on. The link reports what happened to a message and never decides what it
// means for a sale:
//   answered   — an answer came back;
//   neverLeft  — no byte was written (no connection, TLS refused, the caller's pre-transmit step failed);
//   noAnswer   — it was written, or may have been, and no answer came in time.
// An answer that comes after its request gave up is kept as a late answer, never delivered to another request.
// With one connection per transaction every exchange has its own connection, so concurrent exchanges never close
// each other's; every response timer is cancelled when its answer arrives.

import FaultInjection
import Foundation
import ISO8583
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Why a message could not be exchanged with the acquirer.
public enum LinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No TCP connection to the acquirer (or the reconnect backoff is still running); the text says why.
    case connectFailed(String)
    /// The TLS handshake with the acquirer failed; the text says why in plain words.
    case tls(String)
    /// No answer came within the response timeout (`[acquirer] response_timeout`, or the caller's).
    case timeout
    /// The connection closed, or a write failed, before the answer came; the text says why.
    case connectionLost(String)
    /// The message cannot be packed or framed or lacks DE 11 or DE 41, a newer request with the same match key
    /// superseded it, or the profile is unknown.
    case invalidMessage(String)
    /// The caller's step before the first byte (persisting "transmitted") failed.
    case notPersisted(String)
    /// The TLS files cannot be used (unreadable, no certificate, a key file that breaks the key file rule); the text
    /// names the files.
    case tlsSetup(String)
    /// Certificate verification passed, but the acquirer's SubjectPublicKeyInfo hash is not `[acquirer] spki_pin`.
    case pinMismatch

    /// The error in plain words.
    public var description: String {
        switch self {
        case .connectFailed(let s): return "cannot connect to the acquirer: \(s)"
        case .tls(let s): return "TLS handshake with the acquirer failed: \(s)"
        case .timeout: return "no answer from the acquirer in time"
        case .connectionLost(let s): return "connection to the acquirer lost: \(s)"
        case .invalidMessage(let s): return "invalid message: \(s)"
        case .notPersisted(let s): return "not sent: \(s)"
        case .tlsSetup(let s): return s
        case .pinMismatch: return "the acquirer's public key does not match the configured pin"
        }
    }
}

/// What happened to one message on the link.
public enum ExchangeOutcome: Sendable {
    /// An answer with the request's MTI class, DE 41 and DE 11 came back (still to be checked with `AnswerCheck`).
    case answered(ISOMessage)
    /// No byte was written, so the acquirer cannot have the request: there is nothing to reverse.
    case neverLeft(LinkError)
    /// The request was, or may have been, written and no answer came in time (a sale then reverses it).
    case noAnswer(LinkError)
}

/// The TLS connection to the acquirer: sends framed ISO 8583 messages and matches each answer to its request
/// by MTI class, DE 41 and DE 11 on the connection it was sent on.
public actor AcquirerLink {
    /// The `[acquirer]` configuration the link was created with.
    public let configuration: AcquirerConfiguration
    /// The ISO 8583 codec of the configured profile (`[acquirer] profile`).
    public let codec: ISO8583Codec
    private let ssl: NIOSSLContext
    private let group: any EventLoopGroup

    /// One TLS connection and the requests waiting on it.
    private final class Connection {
        let channel: any Channel
        var waiters:
            [ISOMessage.MatchKey: (continuation: CheckedContinuation<ISOMessage, any Error>, timer: Task<Void, Never>)] =
                [:]
        init(channel: any Channel) { self.channel = channel }
        var id: ObjectIdentifier { ObjectIdentifier(channel) }
    }

    /// The kept connection (persistent mode).
    private var shared: Connection?
    /// Every open connection by channel: the kept one, or one per exchange in per-transaction mode.
    private var open: [ObjectIdentifier: Connection] = [:]
    /// Answers nobody was waiting for any more (bounded), and unsolicited messages.
    public private(set) var lateMessages: [ISOMessage] = []
    /// The last connection problem in words (failed connect, TLS failure, closed connection, undecodable message);
    /// nil until there has been one.
    public private(set) var lastError: String?
    /// Reconnect backoff: after a failed connection the next attempt waits 0.5 s, 1 s, 2 s … up to 60 s.
    private var connectFailures = 0
    private var retryAfter: ContinuousClock.Instant?
    /// Whether the kept connection has been signed on (when the configuration asks for sign-on).
    public private(set) var signedOn = false
    /// When a frame last went out or came in (idle detection for the echo).
    public private(set) var lastActivity = ContinuousClock.now

    /// Creates the link without connecting (a nil `group` uses NIO's shared event loop group).
    /// Throws `LinkError.invalidMessage` for an unknown profile and `LinkError.tlsSetup` for unloadable TLS files.
    public init(configuration: AcquirerConfiguration, group: (any EventLoopGroup)? = nil) throws {
        guard let spec = configuration.spec else {
            throw LinkError.invalidMessage("unknown profile \(configuration.profile)")
        }
        self.configuration = configuration
        self.codec = try ISO8583Codec(spec: spec)
        self.ssl = try AcquirerTLS.clientContext(configuration)
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
    }

    /// Whether the kept connection is open; always false with one connection per transaction.
    public var isConnected: Bool { shared?.channel.isActive ?? false }

    /// Timers still armed (for tests: a finished exchange leaves none).
    public var armedTimers: Int { open.values.reduce(0) { $0 + $1.waiters.count } }

    /// Sends `request` and reports what happened. `beforeTransmit` runs once the connection is up and before the
    /// first byte is written (the journal's "transmitted" mark); when it throws, nothing is written.
    public func exchange(
        _ request: ISOMessage, timeout: Duration? = nil,
        beforeTransmit: (@Sendable () async throws -> Void)? = nil
    ) async -> ExchangeOutcome {
        // A message that cannot go out is refused before anything is marked transmitted.
        guard request.matchKey != nil else { return .neverLeft(.invalidMessage("request without DE 11 or DE 41")) }
        do { _ = try framed(request) } catch {
            return .neverLeft(error as? LinkError ?? .invalidMessage("\(error)"))
        }
        return await exchange(timeout: timeout) {
            try await beforeTransmit?()
            return request
        }.outcome
    }

    /// Connects, then asks `prepare` for the request and sends it. `prepare` runs once the connection is up, just
    /// before the first byte: the caller numbers the request and records it as transmitted there, so a sale costs
    /// one journal transaction before the wire. When `prepare` throws, nothing is written (`neverLeft`). Returns the
    /// request `prepare` built (nil when it did not run or failed) with the outcome.
    public func exchange(
        timeout: Duration? = nil, prepare: @Sendable () async throws -> ISOMessage
    ) async -> (request: ISOMessage?, outcome: ExchangeOutcome) {
        let connection: Connection
        do { connection = try await connect() } catch {
            return (nil, .neverLeft(error as? LinkError ?? .connectFailed("\(error)")))
        }
        let perTransaction = !configuration.persistentConnection
        defer { if perTransaction { drop(connection, "exchange finished") } }
        guard connection.channel.isActive else {
            return (nil, .neverLeft(.connectionLost("closed before the request was written")))
        }
        let request: ISOMessage
        do { request = try await prepare() } catch {
            return (nil, .neverLeft(.notPersisted("\(error)")))
        }
        // From here the caller's record says the request may have left, so every failure is "no answer" (the caller
        // reverses it). The connection may have closed while the journal wrote; then the waiter below is never
        // registered on a connection nobody tracks (that would wait forever).
        guard open[connection.id] === connection, connection.channel.isActive else {
            return (request, .noAnswer(.connectionLost("closed before the request was written")))
        }
        guard let key = request.matchKey else {
            return (request, .noAnswer(.invalidMessage("request without DE 11 or DE 41")))
        }
        let body: [UInt8]
        do { body = try framed(request) } catch {
            return (request, .noAnswer(error as? LinkError ?? .invalidMessage("\(error)")))
        }
        let limit = timeout ?? .milliseconds(Int64(configuration.responseTimeout * 1000))
        let mti = request.mti
        do {
            let answer = try await withCheckedThrowingContinuation {
                (cont: CheckedContinuation<ISOMessage, any Error>) in
                if let old = connection.waiters.removeValue(forKey: key) {
                    old.timer.cancel()
                    old.continuation.resume(
                        throwing: LinkError.invalidMessage("superseded by a newer request with \(key)"))
                }
                let id = connection.id
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: limit)
                    guard !Task.isCancelled else { return }
                    await self?.fail(key, on: id, LinkError.timeout)
                }
                connection.waiters[key] = (cont, timer)
                lastActivity = .now
                var buf = connection.channel.allocator.buffer(capacity: body.count)
                buf.writeBytes(body)
                connection.channel.writeAndFlush(buf).whenComplete { [weak self] result in
                    switch result {
                    case .success: FaultPoint.hit("sent:\(mti)")
                    case .failure(let e): Task { await self?.fail(key, on: id, LinkError.connectionLost("\(e)")) }
                    }
                }
            }
            return (request, .answered(answer))
        } catch {
            return (request, .noAnswer(error as? LinkError ?? .connectionLost("\(error)")))
        }
    }

    /// The old shape for callers that only want an answer or an error (echo, sign-on).
    public func exchangeOrThrow(_ request: ISOMessage, timeout: Duration? = nil) async throws -> ISOMessage {
        switch await exchange(request, timeout: timeout) {
        case .answered(let m): return m
        case .neverLeft(let e), .noAnswer(let e): throw e
        }
    }

    /// Sends a message that expects no answer on this link (an answer to a host-initiated request).
    public func send(_ message: ISOMessage) async throws {
        let body = try framed(message)
        let c = try await connect()
        var buf = c.channel.allocator.buffer(capacity: body.count)
        buf.writeBytes(body)
        try await c.channel.writeAndFlush(buf).get()
    }

    /// The message packed and framed for the wire.
    private func framed(_ m: ISOMessage) throws -> [UInt8] {
        do { return try ISOFraming.frame(try codec.pack(m), codec.spec.framing) } catch {
            throw LinkError.invalidMessage("\(error)")
        }
    }

    /// Closes every connection and forgets the reconnect backoff (an operator's or a test's fresh start).
    public func close() {
        for c in Array(open.values) { drop(c, "closed by tapd") }
        shared = nil
        connectFailures = 0
        retryAfter = nil
        signedOn = false
    }

    /// Records that the kept connection is signed on; the mark is cleared when that connection closes.
    public func markSignedOn() { signedOn = true }

    private func drop(_ c: Connection, _ why: String) {
        c.channel.close(promise: nil)
        open[c.id] = nil
        if shared === c {
            shared = nil
            signedOn = false
        }
        let pending = c.waiters
        c.waiters = [:]
        for (_, w) in pending {
            w.timer.cancel()
            w.continuation.resume(throwing: LinkError.connectionLost(why))
        }
    }

    private func fail(_ key: ISOMessage.MatchKey, on id: ObjectIdentifier, _ error: LinkError) {
        guard let w = open[id]?.waiters.removeValue(forKey: key) else { return }
        w.timer.cancel()
        w.continuation.resume(throwing: error)
    }

    private func received(_ frame: [UInt8], on id: ObjectIdentifier) {
        lastActivity = .now
        let m: ISOMessage
        do { m = try codec.unpack(frame) } catch {
            lastError = "undecodable message from the acquirer: \(error)"
            return
        }
        if let key = m.matchKey, let w = open[id]?.waiters.removeValue(forKey: key) {
            w.timer.cancel()
            w.continuation.resume(returning: m)
        } else {
            lateMessages.append(m)
            if lateMessages.count > 100 { lateMessages.removeFirst(lateMessages.count - 100) }
        }
    }

    private func closed(_ why: String, _ id: ObjectIdentifier) {
        guard let c = open[id] else { return }
        lastError = why
        drop(c, why)
    }

    /// The connection to use: the kept one (connecting when there is none), or a fresh one per exchange.
    private func connect() async throws -> Connection {
        if configuration.persistentConnection, let c = shared, c.channel.isActive { return c }
        if let r = retryAfter, ContinuousClock.now < r {
            throw LinkError.connectFailed("acquirer unreachable; next attempt in \(r - ContinuousClock.now)")
        }
        let c = configuration
        let handshake = group.next().makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(Int64(c.connectTimeout * 1000)))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { [ssl, link = self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = ObjectIdentifier(channel)
                    try channel.pipeline.syncOperations.addHandler(
                        try AcquirerTLS.handler(context: ssl, host: c.host, pin: c.spkiPin))
                    try channel.pipeline.syncOperations.addHandler(HandshakeObserver(promise: handshake))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(
                            ISOFrameDecoder(framing: c.spec!.framing, maxLength: c.spec!.maxMessageLength)))
                    try channel.pipeline.syncOperations.addHandler(
                        FrameInboundHandler(
                            onFrame: { frame in Task { await link.received(frame, on: id) } },
                            onClose: { why in Task { await link.closed(why, id) } }))
                }
            }
        let ch: any Channel
        do { ch = try await bootstrap.connect(host: c.host, port: c.port).get() } catch {
            handshake.fail(error)
            connectFailures += 1
            retryAfter = ContinuousClock.now + .milliseconds(min(60_000, 500 << min(connectFailures - 1, 7)))
            lastError = "cannot connect to \(c.host):\(c.port)"
            throw LinkError.connectFailed("\(c.host):\(c.port): \(AcquirerTLS.plain(error))")
        }
        connectFailures = 0
        retryAfter = nil
        do { try await handshake.futureResult.get() } catch {
            ch.close(promise: nil)
            lastError = "TLS handshake failed"
            throw LinkError.tls(AcquirerTLS.plain(error))
        }
        let connection = Connection(channel: ch)
        open[connection.id] = connection
        if c.persistentConnection {
            shared = connection
            signedOn = false
        }
        // The channel may have closed between the handshake and now; its close then came before it was known.
        if !ch.isActive { drop(connection, "closed right after the handshake") }
        return connection
    }
}

/// Completes when the TLS handshake succeeds; fails when it fails or the connection ends first.
final class HandshakeObserver: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let promise: EventLoopPromise<Void>
    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { promise.succeed() }
        context.fireUserInboundEventTriggered(event)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }
    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(LinkError.connectionLost("closed during the TLS handshake"))
        context.fireChannelInactive()
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }
}
