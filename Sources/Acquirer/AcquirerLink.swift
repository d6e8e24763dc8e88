// The connection to the acquirer: TLS, framing, and matching each answer to its request by (MTI class, DE 41,
// DE 11). An answer that comes after its request gave up is a late answer: logged and kept for the caller,
// never delivered to the wrong request. A lost connection fails every waiting request.
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ISO8583

public enum LinkError: Error, Equatable, Sendable, CustomStringConvertible {
    case connectFailed(String)
    case tls(String)
    case timeout
    case connectionLost(String)
    case invalidMessage(String)

    public var description: String {
        switch self {
        case .connectFailed(let s): return "cannot connect to the acquirer: \(s)"
        case .tls(let s): return "TLS handshake with the acquirer failed: \(s)"
        case .timeout: return "no answer from the acquirer in time"
        case .connectionLost(let s): return "connection to the acquirer lost: \(s)"
        case .invalidMessage(let s): return "invalid message: \(s)"
        }
    }
}

public actor AcquirerLink {
    public let configuration: AcquirerConfiguration
    public let codec: ISO8583Codec
    private let ssl: NIOSSLContext
    private let group: any EventLoopGroup
    private var channel: (any Channel)?
    private var waiters: [ISOMessage.MatchKey: CheckedContinuation<ISOMessage, any Error>] = [:]
    /// Answers nobody was waiting for any more (bounded), and unsolicited messages.
    public private(set) var lateMessages: [ISOMessage] = []
    public private(set) var lastError: String?
    /// Reconnect backoff: after a failed connection the next attempt waits 0.5 s, 1 s, 2 s … up to 60 s.
    private var connectFailures = 0
    private var retryAfter: ContinuousClock.Instant?
    /// Whether the current connection has been signed on (when the configuration asks for sign-on).
    public private(set) var signedOn = false
    /// When a frame last went out or came in (idle detection for the echo).
    public private(set) var lastActivity = ContinuousClock.now

    public init(configuration: AcquirerConfiguration, group: (any EventLoopGroup)? = nil) throws {
        guard let spec = configuration.spec else { throw LinkError.invalidMessage("unknown profile \(configuration.profile)") }
        self.configuration = configuration
        self.codec = try ISO8583Codec(spec: spec)
        self.ssl = try AcquirerTLS.clientContext(configuration)
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
    }

    public var isConnected: Bool { channel?.isActive ?? false }

    /// Sends a request and waits for its answer, or throws `LinkError.timeout` / `.connectionLost`. The message is
    /// written only after the TLS handshake has succeeded.
    public func exchange(_ request: ISOMessage, timeout: Duration? = nil) async throws -> ISOMessage {
        guard let key = request.matchKey else { throw LinkError.invalidMessage("request without DE 11 or DE 41") }
        let body = try framed(request)
        let ch = try await connected()
        let limit = timeout ?? .milliseconds(Int64(configuration.responseTimeout * 1000))
        defer { if !configuration.persistentConnection { close() } }
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ISOMessage, any Error>) in
            if let old = waiters.removeValue(forKey: key) { old.resume(throwing: LinkError.invalidMessage("superseded by a newer request with \(key)")) }
            waiters[key] = cont
            lastActivity = .now
            var buf = ch.allocator.buffer(capacity: body.count)
            buf.writeBytes(body)
            ch.writeAndFlush(buf).whenFailure { [weak self] e in
                Task { await self?.fail(key, LinkError.connectionLost("\(e)")) }
            }
            Task { [weak self] in
                try? await Task.sleep(for: limit)
                await self?.fail(key, LinkError.timeout)
            }
        }
    }

    /// Sends a message that expects no answer on this link (an answer to a host-initiated request).
    public func send(_ message: ISOMessage) async throws {
        let body = try framed(message)
        let ch = try await connected()
        var buf = ch.allocator.buffer(capacity: body.count)
        buf.writeBytes(body)
        try await ch.writeAndFlush(buf).get()
    }

    /// The message packed and framed for the wire.
    private func framed(_ m: ISOMessage) throws -> [UInt8] {
        do { return try ISOFraming.frame(try codec.pack(m), codec.spec.framing) } catch { throw LinkError.invalidMessage("\(error)") }
    }

    /// Closes the connection and forgets the reconnect backoff (an operator's or a test's fresh start).
    public func close() {
        channel?.close(promise: nil)
        channel = nil
        connectFailures = 0
        retryAfter = nil
        signedOn = false
    }

    public func markSignedOn() { signedOn = true }

    private func fail(_ key: ISOMessage.MatchKey, _ error: LinkError) {
        waiters.removeValue(forKey: key)?.resume(throwing: error)
    }

    private func received(_ frame: [UInt8]) {
        lastActivity = .now
        let m: ISOMessage
        do { m = try codec.unpack(frame) } catch {
            lastError = "undecodable message from the acquirer: \(error)"
            return
        }
        if let key = m.matchKey, let w = waiters.removeValue(forKey: key) {
            w.resume(returning: m)
        } else {
            lateMessages.append(m)
            if lateMessages.count > 100 { lateMessages.removeFirst(lateMessages.count - 100) }
        }
    }

    private func closed(_ why: String, _ ch: ObjectIdentifier) {
        guard let current = channel, ObjectIdentifier(current) == ch else { return }
        channel = nil
        lastError = why
        let pending = waiters
        waiters = [:]
        for (_, w) in pending { w.resume(throwing: LinkError.connectionLost(why)) }
    }

    /// The open channel, connecting (TCP, then the TLS handshake) when there is none.
    private func connected() async throws -> any Channel {
        if let c = channel, c.isActive { return c }
        signedOn = false
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
                    try channel.pipeline.syncOperations.addHandler(try AcquirerTLS.handler(context: ssl, host: c.host, pin: c.spkiPin))
                    try channel.pipeline.syncOperations.addHandler(HandshakeObserver(promise: handshake))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ISOFrameDecoder(framing: c.spec!.framing, maxLength: c.spec!.maxMessageLength)))
                    try channel.pipeline.syncOperations.addHandler(FrameInboundHandler(
                        onFrame: { frame in Task { await link.received(frame) } },
                        onClose: { why in Task { await link.closed(why, id) } }))
                }
            }
        let ch: any Channel
        do { ch = try await bootstrap.connect(host: c.host, port: c.port).get() } catch {
            handshake.fail(error)
            connectFailures += 1
            retryAfter = ContinuousClock.now + .milliseconds(min(60_000, 500 << min(connectFailures - 1, 7)))
            throw LinkError.connectFailed("\(c.host):\(c.port): \(error)")
        }
        connectFailures = 0
        retryAfter = nil
        do { try await handshake.futureResult.get() } catch {
            ch.close(promise: nil)
            throw LinkError.tls("\(error)")
        }
        channel = ch
        return ch
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
