// The local API: HTTP/1.1 with JSON on a Unix socket (HTTPServer.swift, over SwiftNIO), described by
// Sources/ControlAPI/Resources/openapi.json. Requests are small and bounded (16 KiB bodies, 80 KiB of headers, idle connections closed after
// 60 s); every state change goes to /v1/events as Server-Sent Events without ever waiting for a slow listener; each
// request that changes something is audited with the peer's uid and pid (SO_PEERCRED).
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Readers
import TapdCore

/// The peer's credentials on the Unix socket (struct ucred: pid, uid, gid).
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var description: String { "uid=\(uid) pid=\(pid)" }
}

/// SO_PEERCRED (Linux socket option 17) of a connection on the Unix socket.
func peerCredentials(of channel: any Channel) async -> PeerCredentials? {
    guard let provider = channel as? any SocketOptionProvider else { return nil }
    let f: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
        level: .socket, name: NIOBSDSocket.Option(rawValue: 17))
    return try? await f.get()
}

/// Whether the caller may change the risk team's levers (freezes, the exception file): root, tapd's own user, or
/// a member of group `tapd-risk`. The point of sale's group (`tapd-pos`) reaches the socket, not these levers.
func mayUseRiskControls(_ peer: PeerCredentials?) -> Bool {
    guard let peer else { return false }
    if peer.uid == 0 || peer.uid == geteuid() { return true }
    guard let group = getgrnam("tapd-risk") else { return false }
    let riskGID = group.pointee.gr_gid
    if peer.gid == riskGID { return true }
    guard let pw = getpwuid(peer.uid) else { return false }
    var count: Int32 = 64
    var groups = [gid_t](repeating: 0, count: 64)
    guard getgrouplist(pw.pointee.pw_name, pw.pointee.pw_gid, &groups, &count) >= 0 else { return false }
    return groups.prefix(Int(count)).contains(riskGID)
}

/// The caller of a risk lever in words ("api uid=0 pid=42"), or nil when it may not pull one.
func riskCaller(_ channel: any Channel) async -> String? {
    let peer = await peerCredentials(of: channel)
    guard mayUseRiskControls(peer) else { return nil }
    return "api " + (peer?.description ?? "api")
}

/// The answer to `GET /v1/status` (JSON keys in snake_case).
public struct APIStatus: Codable, Sendable {
    /// The acquirer link as the status reports it.
    public struct Link: Codable, Sendable {
        /// Whether tapd.toml has an `[acquirer]` table; without one, online sales fail.
        public var configured: Bool
        /// The acquirer's host (`[acquirer] host`); nil when no acquirer is configured.
        public var host: String?
        /// The acquirer's port (`[acquirer] port`); nil when no acquirer is configured.
        public var port: Int?
        /// Whether the kept connection to the acquirer is open; always false with one connection per transaction.
        public var connected: Bool
        /// The link's last connection problem in words; nil when there has been none or no acquirer is configured.
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case configured, host, port, connected
            case lastError = "last_error"
        }
    }
    /// tapd's version.
    public var version: String
    /// Seconds since the API server was created, rounded to a tenth.
    public var uptimeSeconds: Double
    /// The daemon's state: `idle`, `busy` (a sale is in progress) or `shutting_down`.
    public var state: String
    /// The number of sales in progress.
    public var activeTransactions: Int
    /// Each reader tapd knows, with its state.
    public var readers: [ReaderSnapshot]
    /// The acquirer link's state.
    public var acquirer: Link
    /// Store-and-forward messages (reversals, advices, captures) waiting for delivery; -1 when the journal
    /// cannot be read.
    public var safDepth: Int
    /// Store-and-forward messages quarantined until an operator resolves them; -1 when the journal cannot be read.
    public var safQuarantined: Int
    /// The most recent sale; nil when there is none or it cannot be read.
    public var lastTransaction: TransactionView?
    /// The terminal's currency (ISO 4217 alphabetic, or numeric when unknown): every amount is in its minor units.
    public var currency: String
    /// The currency's minor-unit digits (2 for EUR, 0 for JPY, 3 for BHD): how amounts are written.
    public var currencyExponent: Int

    enum CodingKeys: String, CodingKey {
        case version
        case uptimeSeconds = "uptime_seconds"
        case state
        case activeTransactions = "active_transactions"
        case readers, acquirer
        case safDepth = "saf_depth"
        case safQuarantined = "saf_quarantined"
        case lastTransaction = "last_transaction"
        case currency
        case currencyExponent = "currency_exponent"
    }
}

/// The body of `POST /v1/transactions/{id}/complete`: the pre-authorisation's final amount in minor units.
public struct CompletionRequest: Codable, Sendable, Equatable {
    /// The final amount, 1 to the authorised amount plus `[daemon] completion_tolerance_percent`.
    public var amount: Int64
    /// A completion of `amount` minor units.
    public init(amount: Int64) { self.amount = amount }
}

/// tapd's local API: HTTP/1.1 with JSON on a Unix socket, answered through TapdCore's transaction coordinator.
public final class APIServer: Sendable {
    /// Largest request body accepted, in bytes (16 KiB); a larger one is answered 413.
    public static let maxBodySize = 16 * 1024
    /// Largest exception file `PUT /v1/risk/exception-file` accepts (4 MiB: some 60,000 cards).
    public static let maxExceptionFileSize = 4 * 1024 * 1024

    /// The OpenAPI 3.0 description of this API (Sources/ControlAPI/Resources/openapi.json).
    public static let openAPIDocument: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let d = try? Data(contentsOf: url)
        else { return Data("{}".utf8) }
        return d
    }()

    let socketPath: String
    let coordinator: TransactionCoordinator
    let events: EventHub
    let metrics: TapdMetrics
    let started = Date()
    let shuttingDown: @Sendable () -> Bool
    /// The last exposition and when it was made: scrapes within a second share it, so no caller can make the
    /// journal and the coordinator work for every request (the TCP listener is reachable by more than the POS).
    let metricsCache = MetricsCache()
    static let logger = Logger(label: "tapd.api")

    /// The API asks TapdCore only: sales, the queue, readers and the link all go through the coordinator.
    public init(
        socketPath: String, coordinator: TransactionCoordinator, events: EventHub, metrics: TapdMetrics,
        shuttingDown: @escaping @Sendable () -> Bool = { false }
    ) {
        self.socketPath = socketPath
        self.coordinator = coordinator
        self.events = events
        self.metrics = metrics
        self.shuttingDown = shuttingDown
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        // The same text as .iso8601 ("2026-11-26T13:07:27Z"), without Foundation's calendar and ICU (UTCTime).
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(APITimestamp.iso8601(date))
        }
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> HTTPReply {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return HTTPReply(status: status, contentType: "application/json", body: ByteBuffer(bytes: data))
    }

    struct ErrorBody: Encodable {
        let error: Detail
        struct Detail: Encodable {
            let code: String
            let message: String
        }
    }

    static func error(_ status: HTTPResponseStatus, _ code: String, _ message: String) -> HTTPReply {
        json(ErrorBody(error: .init(code: code, message: message)), status: status)
    }

    static func error(for e: any Error) -> HTTPReply {
        switch e {
        case let c as TapdError:
            // The journal's own errors keep their cause; their text is written in words, never a library dump.
            switch c.httpStatus {
            case 422: return error(.unprocessableEntity, "invalid_request", c.description)
            case 409: return error(.conflict, "conflict", c.description)
            case 404: return error(.notFound, "not_found", c.description)
            default: return error(.serviceUnavailable, "unavailable", c.description)
            }
        default:
            // The cause goes to the daemon's log; the client gets no internal text (no library dump, no build path).
            logger.error("internal error answering the API", metadata: ["error": "\(e)"])
            return error(
                .internalServerError, "internal", "tapd could not answer this request; the daemon's log says why")
        }
    }

    /// Decodes a JSON body, naming the field that is wrong. With `keys`, the body must be an object with no other
    /// keys and no null values (the OpenAPI document's `additionalProperties: false`, nothing nullable): a key the
    /// server would ignore is refused, not silently dropped.
    static func decode<T: Decodable>(_ type: T.Type, from request: HTTPRequest, keys: Set<String>? = nil) throws -> T {
        let data = Data(request.body.readableBytesView)
        if let keys {
            guard let any = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
                throw TapdError.invalid("the body is not valid JSON")
            }
            guard let object = any as? [String: Any] else { throw TapdError.invalid("the body must be a JSON object") }
            if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
                throw TapdError.invalid("\(unknown) is not a field of this request")
            }
            if let null = object.keys.sorted().first(where: { object[$0] is NSNull }) {
                throw TapdError.invalid("\(null) must not be null (leave it out instead)")
            }
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch let e as DecodingError {
            let message: String
            switch e {
            case .keyNotFound(let k, _): message = "\(k.stringValue) is required"
            case .typeMismatch(_, let c):
                message = "\(c.codingPath.map(\.stringValue).joined(separator: ".")): wrong type"
            case .valueNotFound(_, let c):
                message = "\(c.codingPath.map(\.stringValue).joined(separator: ".")): missing value"
            case .dataCorrupted(let c):
                message =
                    c.codingPath.isEmpty
                    ? "the body is not valid JSON"
                    : "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
            @unknown default: message = "invalid body"
            }
            throw TapdError.invalid(message)
        }
    }

    /// One request, answered. The routes are few and fixed, so they are matched here directly, segment by segment:
    /// a path that exists with another method is 405 with `Allow` (RFC 9110 §15.5.6), anything else 404, both with
    /// the JSON error body of every other failure.
    func respond(to request: HTTPRequest) async -> HTTPReply {
        metrics.apiRequest()
        let method = request.method
        let channel = request.channel
        var segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if segments.count > 1, segments.last == "" { segments.removeLast() }  // "/v1/status/" is "/v1/status"
        func only(_ allowed: HTTPMethod, _ handler: () async -> HTTPReply) async -> HTTPReply {
            guard method == allowed else { return Self.methodNotAllowed(allow: [allowed]) }
            return await handler()
        }
        switch segments.count {
        case 1 where segments[0] == "metrics":
            return await only(.GET) { await metricsText() }
        case 2 where segments[0] == "v1":
            switch segments[1] {
            case "health": return await only(.GET) { health() }
            case "status": return await only(.GET) { Self.json(await status()) }
            case "readers": return await only(.GET) { Self.json(await coordinator.readerSnapshot()) }
            case "saf": return await only(.GET) { await followUps(request) }
            case "risk": return await only(.GET) { Self.json(await coordinator.risk.status()) }
            case "reports": return await only(.GET) { await report(request.query) }
            case "batches":
                switch method {
                case .GET:
                    do { return Self.json(try await coordinator.batches()) } catch { return Self.error(for: error) }
                case .POST:
                    do {
                        let who = "api " + (await peerCredentials(of: channel)?.description ?? "api")
                        let b = try await coordinator.closeBatch(requester: who)
                        return Self.json(
                            b, status: b.state == "closed" || b.state == "out_of_balance" ? .ok : .accepted)
                    } catch { return Self.error(for: error) }
                default: return Self.methodNotAllowed(allow: [.GET, .POST])
                }
            case "preauthorisations":
                return await only(.GET) {
                    do { return Self.json(try await coordinator.openPreauthorisations()) } catch {
                        return Self.error(for: error)
                    }
                }
            case "events": return await only(.GET) { eventStream(request) }
            case "openapi.json":
                return await only(.GET) {
                    HTTPReply(contentType: "application/json", body: ByteBuffer(bytes: APIServer.openAPIDocument))
                }
            case "transactions":
                switch method {
                case .GET: return await list(request)
                case .POST: return await start(request, channel: channel)
                default: return Self.methodNotAllowed(allow: [.GET, .POST])
                }
            default: break
            }
        case 3 where segments[0] == "v1" && segments[1] == "risk" && segments[2] == "freeze":
            return await only(.POST) {
                do {
                    let body = try Self.decode(
                        FreezeRequest.self, from: request, keys: ["scope", "value", "pan", "reason", "until"])
                    guard let who = await riskCaller(channel) else { return Self.riskForbidden }
                    return Self.json(try await coordinator.risk.freeze(body, by: who), status: .created)
                } catch { return Self.error(for: error) }
            }
        case 3 where segments[0] == "v1" && segments[1] == "risk" && segments[2] == "exception-file":
            return await only(.PUT) {
                do {
                    var body = request.body
                    guard let text = body.readString(length: body.readableBytes) else {
                        throw TapdError.invalid("the exception file must be UTF-8 text")
                    }
                    guard let who = await riskCaller(channel) else { return Self.riskForbidden }
                    return Self.json(try await coordinator.risk.replaceExceptionFile(text, by: who))
                } catch { return Self.error(for: error) }
            }
        case 4 where segments[0] == "v1" && segments[1] == "risk" && segments[2] == "freeze":
            guard let id = Int64(segments[3]) else {
                return Self.error(.notFound, "not_found", "no freeze \(segments[3])")
            }
            return await only(.DELETE) {
                do {
                    guard let who = await riskCaller(channel) else { return Self.riskForbidden }
                    return Self.json(try await coordinator.risk.unfreeze(id, by: who))
                } catch { return Self.error(for: error) }
            }
        case 3 where segments[0] == "v1" && segments[1] == "transactions":
            let id = segments[2].removingPercentEncoding ?? segments[2]
            return await only(.GET) { await transaction(id) }
        case 4
        where segments[0] == "v1" && segments[1] == "transactions"
            && (segments[3] == "cancel" || segments[3] == "void"):
            let id = segments[2].removingPercentEncoding ?? segments[2]
            let void = segments[3] == "void"
            return await only(.POST) {
                do {
                    let who = "api " + (await peerCredentials(of: channel)?.description ?? "api")
                    return Self.json(
                        void
                            ? try await coordinator.void(id, requester: who)
                            : try await coordinator.cancel(id, requester: who))
                } catch { return Self.error(for: error) }
            }
        case 4 where segments[0] == "v1" && segments[1] == "transactions" && segments[3] == "complete":
            let id = segments[2].removingPercentEncoding ?? segments[2]
            return await only(.POST) {
                do {
                    let body = try Self.decode(CompletionRequest.self, from: request, keys: ["amount"])
                    let who = "api " + (await peerCredentials(of: channel)?.description ?? "api")
                    return Self.json(try await coordinator.complete(id, amount: body.amount, requester: who))
                } catch { return Self.error(for: error) }
            }
        case 4 where segments[0] == "v1" && segments[1] == "transactions" && segments[3] == "receipt":
            let id = segments[2].removingPercentEncoding ?? segments[2]
            return await only(.GET) { await receipt(id, request.query) }
        case 4
        where segments[0] == "v1" && segments[1] == "saf" && (segments[3] == "retry" || segments[3] == "resolve"):
            guard let id = Int64(segments[2]) else {
                return Self.error(.notFound, "not_found", "no follow-up \(segments[2])")
            }
            let retry = segments[3] == "retry"
            return await only(.POST) {
                do {
                    let who = "api " + (await peerCredentials(of: channel)?.description ?? "api")
                    if retry { return Self.json(try await coordinator.retryFollowUp(id, requester: who)) }
                    struct Resolution: Decodable { let reason: String }
                    let body = try Self.decode(Resolution.self, from: request, keys: ["reason"])
                    return Self.json(try await coordinator.resolveFollowUp(id, reason: body.reason, requester: who))
                } catch { return Self.error(for: error) }
            }
        default: break
        }
        return Self.error(.notFound, "not_found", "no such resource: \(request.path)")
    }

    /// 403 for a caller that may not change the risk levers.
    static var riskForbidden: HTTPReply {
        error(.forbidden, "forbidden", "the risk controls are for root and group tapd-risk, not the point of sale")
    }

    static func methodNotAllowed(allow: [HTTPMethod]) -> HTTPReply {
        // HEAD goes with GET
        let methods = allow.flatMap { $0 == .GET ? [.GET, .HEAD] : [$0] }.map(\.rawValue).joined(separator: ", ")
        var r = error(.methodNotAllowed, "method_not_allowed", "allowed here: " + methods)
        r.headers.replaceOrAdd(name: "Allow", value: methods)
        return r
    }

    func health() -> HTTPReply {
        if shuttingDown() { return Self.error(.serviceUnavailable, "shutting_down", "tapd is shutting down") }
        return Self.json(["status": "ok"])
    }

    func start(_ request: HTTPRequest, channel: any Channel) async -> HTTPReply {
        do {
            let sale = try Self.decode(
                SaleRequest.self, from: request,
                keys: ["type", "amount", "currency", "reader", "idempotency_key", "original_id"])
            let who = await peerCredentials(of: channel)?.description ?? "api"
            let (view, created) = try await coordinator.start(sale, requester: "api " + who)
            return Self.json(view, status: created ? .created : .ok)
        } catch { return Self.error(for: error) }
    }

    func list(_ request: HTTPRequest) async -> HTTPReply {
        let q = request.query
        var limit = 20
        if let l = q["limit"] {
            guard let n = Int(l), (1...200).contains(n) else {
                return Self.error(.badRequest, "invalid_request", "limit must be 1–200")
            }
            limit = n
        }
        if let after = q["after"], after.isEmpty {
            return Self.error(.unprocessableEntity, "invalid_request", "after must name a transaction")
        }
        do {
            return Self.json(try await coordinator.list(limit: limit, after: q["after"]))
        } catch { return Self.error(for: error) }
    }

    /// `GET /v1/reports?day=YYYY-MM-DD`, `?from=…&to=…` (local days or UTC timestamps) or `?batch=N`.
    func report(_ q: [String: String]) async -> HTTPReply {
        var from: Date? = nil
        var to: Date? = nil
        var batch: Int? = nil
        if let b = q["batch"] {
            guard let n = Int(b), (1...999_999).contains(n) else {
                return Self.error(.unprocessableEntity, "invalid_request", "batch must be a batch number (1–999999)")
            }
            batch = n
        }
        if let d = q["day"] {
            guard let day = APIDate.localMidnight(d) else {
                return Self.error(.unprocessableEntity, "invalid_request", "day must be a date (YYYY-MM-DD)")
            }
            from = day
            to = APIDate.nextLocalMidnight(after: day)
        }
        for (key, value) in [("from", q["from"]), ("to", q["to"])] {
            guard let value else { continue }
            guard let date = APIDate.parse(value) else {
                return Self.error(
                    .unprocessableEntity, "invalid_request",
                    "\(key) must be a day (YYYY-MM-DD) or an RFC 3339 time (YYYY-MM-DDThh:mm:ssZ)")
            }
            if key == "from" { from = date } else { to = date }
        }
        if batch == nil, from == nil, to == nil {
            // Today, the merchant's business day.
            var t = time_t(Date().timeIntervalSince1970)
            var tm = tm()
            localtime_r(&t, &tm)
            tm.tm_hour = 0
            tm.tm_min = 0
            tm.tm_sec = 0
            tm.tm_isdst = -1
            let today = Date(timeIntervalSince1970: Double(mktime(&tm)))
            from = today
            to = APIDate.nextLocalMidnight(after: today)
        }
        // A period that ends before it begins holds no transaction: an empty report, not an error.
        do { return Self.json(try await coordinator.report(from: from, to: to, batch: batch)) } catch {
            return Self.error(for: error)
        }
    }

    /// `GET /v1/transactions/{id}/receipt?copy=customer|merchant&format=json|text&width=32|42|48`.
    func receipt(_ id: String, _ q: [String: String]) async -> HTTPReply {
        guard let copy = Receipt.Copy(rawValue: q["copy"] ?? "customer") else {
            return Self.error(.unprocessableEntity, "invalid_request", "copy must be customer or merchant")
        }
        let format = q["format"] ?? "json"
        guard format == "json" || format == "text" else {
            return Self.error(.unprocessableEntity, "invalid_request", "format must be json or text")
        }
        // The widths themselves are the coordinator's to check (32, 42 or 48).
        guard let width = Int(q["width"] ?? "42") else {
            return Self.error(.unprocessableEntity, "invalid_request", "width must be 32, 42 or 48")
        }
        do {
            let r = try await coordinator.receipt(id, copy: copy, width: width)
            if format == "text" {
                return HTTPReply(contentType: "text/plain; charset=utf-8", body: ByteBuffer(string: r.text))
            }
            return Self.json(r)
        } catch { return Self.error(for: error) }
    }

    func transaction(_ id: String) async -> HTTPReply {
        do {
            guard let v = try await coordinator.transaction(id) else {
                return Self.error(.notFound, "not_found", "no transaction \(id)")
            }
            return Self.json(v)
        } catch { return Self.error(for: error) }
    }

    func followUps(_ request: HTTPRequest) async -> HTTPReply {
        do {
            return Self.json(
                try await coordinator.followUps(status: request.query["status"]))
        } catch {
            return Self.error(for: error)
        }
    }

    func metricsText() async -> HTTPReply {
        if let text = metricsCache.fresh() {
            return HTTPReply(contentType: "text/plain; version=0.0.4", body: ByteBuffer(string: text))
        }
        let h = await coordinator.health()
        if h.safPending >= 0 {
            metrics.setSAFDepth(h.safPending)
            metrics.setSAFQuarantined(h.safQuarantined)
        }
        await coordinator.risk.refreshGauge()
        metrics.setScrapeGauges(
            linkUp: h.acquirerConfigured ? h.acquirerReachable : nil,
            safOldestAge: h.safOldestPending.map { Date().timeIntervalSince($0) })
        let text = metrics.exposition()
        metricsCache.keep(text)
        return HTTPReply(contentType: "text/plain; version=0.0.4", body: ByteBuffer(string: text))
    }

    func eventStream(_ request: HTTPRequest) -> HTTPReply {
        let replay = request.query["replay"].flatMap { Int($0) } ?? 0
        let stream = events.subscribe(replay: replay)
        return HTTPReply(
            headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache"],
            stream: { writer in
                try await writer.write(": tapd events\n\n")
                // Events and a keep-alive comment every 15 s (a dead client is found by the failed write) share one
                // bounded buffer; the writer is the only thing that waits for this client.
                let (merged, out) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(512))
                let pump = Task {
                    for await e in stream {
                        let data = (try? Self.encoder.encode(e)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                        out.yield("id: \(e.seq)\nevent: \(e.type.rawValue)\ndata: \(data)\n\n")
                    }
                    out.finish()
                }
                let beat = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(15))
                        out.yield(": keep-alive\n\n")
                    }
                }
                defer {
                    pump.cancel()
                    beat.cancel()
                }
                for await chunk in merged { try await writer.write(chunk) }
            })
    }

    func status() async -> APIStatus {
        let h = await coordinator.health()
        let link = APIStatus.Link(
            configured: h.acquirerConfigured, host: h.acquirerHost, port: h.acquirerPort,
            connected: h.acquirerConnected, lastError: h.acquirerLastError)
        let active = await coordinator.activeTransactions
        return APIStatus(
            version: TapdVersion.string, uptimeSeconds: (Date().timeIntervalSince(started) * 10).rounded() / 10,
            state: shuttingDown() ? "shutting_down" : active > 0 ? "busy" : "idle", activeTransactions: active,
            readers: h.readers, acquirer: link, safDepth: h.safPending,
            safQuarantined: h.safQuarantined, lastTransaction: try? await coordinator.lastTransaction(),
            currency: await coordinator.currencyText, currencyExponent: await coordinator.currencyExponent)
    }

    /// Serves `GET /metrics` alone over TCP at `host:port` for Prometheus (which cannot scrape a Unix socket): no
    /// sale, no card data and nothing that changes anything is reachable there. Runs until the task is cancelled.
    public func runMetrics(host: String, port: Int, onReady: @escaping @Sendable () async -> Void = {}) async throws {
        var server = HTTPServer(
            socketPath: "", maxBodySize: 0, idleTimeout: .seconds(10),
            respond: { request in
                guard request.path == "/metrics" else {
                    return Self.error(.notFound, "not_found", "only /metrics is served here")
                }
                guard request.method == .GET else { return Self.methodNotAllowed(allow: [.GET]) }
                return await self.metricsText()
            },
            tooLarge: { Self.error(.payloadTooLarge, "too_large", "no request body is accepted here") })
        server.tcp = (host, port)
        server.maxConnections = 16
        try await server.run(onReady: onReady)
    }

    /// Serves until the task is cancelled. `onReady` runs once the socket is bound (permissions, readiness).
    public func run(onReady: @escaping @Sendable () async -> Void = {}) async throws {
        var server = HTTPServer(
            socketPath: socketPath, maxBodySize: Self.maxBodySize, idleTimeout: .seconds(60),
            respond: { await self.respond(to: $0) },
            tooLarge: {
                Self.error(.payloadTooLarge, "too_large", "request bodies are limited to \(Self.maxBodySize) bytes")
            })
        server.bodyLimits = ["/v1/risk/exception-file": Self.maxExceptionFileSize]
        try await server.run(onReady: onReady)
    }
}

/// The metrics exposition of the last second.
final class MetricsCache: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    private var made = ContinuousClock.now
    /// The kept exposition when it is less than a second old.
    func fresh() -> String? { lock.withLock { ContinuousClock.now - made < .seconds(1) ? text : nil } }
    /// Keeps `text` as made now.
    func keep(_ text: String) {
        lock.withLock {
            self.text = text
            made = .now
        }
    }
}
