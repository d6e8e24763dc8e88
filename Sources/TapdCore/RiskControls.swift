// The bank's risk team's levers while tapd runs: acceptance frozen at once for a scope (the whole terminal, a
// scheme, an AID, one card), the exception file replaced without a restart, and alert rules on approvals (per card
// and per terminal, per hour and per day). Freezes and the exception file live in the journal (they survive a
// restart); every change is audited with its caller. Every alert is a `risk_alert` event, a metric and a log line
// with its journald priority. Card identities are salted hashes here: no PAN is kept.
//
// EMV Book 3 §10.6.1: a card on the terminal exception file sets TVR byte 1 bit 5 ("card appears on terminal
// exception file"); the kernels read it through the RiskManager this actor keeps up to date. A freeze is the
// acquirer's instruction, not an EMV decision: the sale ends declined before any message goes to the acquirer, with
// the Book A message the customer should see (A.2 "Not authorised" for the terminal or the card; "Insert, swipe or
// try another card" when another card may work: a frozen scheme or AID).

import EMVCrypto
import EMVKernel
import Foundation
import Journal
import Logging
import TLV

/// What a freeze stops.
public enum FreezeScope: String, Codable, Sendable, CaseIterable {
    /// Every sale on this terminal.
    case terminal
    /// Every card of one scheme (`visa`, `mastercard`, …, as the API's `scheme` field names it).
    case scheme
    /// Every card whose selected AID begins with the value (hex).
    case aid
    /// One card, named by its PAN in the request; tapd keeps only a keyed hash (HMAC-SHA-256 under a secret that
    /// never leaves the journal) and shows the masked PAN.
    case card
}

/// `POST /v1/risk/freeze`: what to freeze, why, and until when.
public struct FreezeRequest: Codable, Sendable {
    /// `terminal`, `scheme`, `aid` or `card`.
    public var scope: String
    /// The scheme or the AID (hex); absent for `terminal` and `card`.
    public var value: String?
    /// The card's PAN (12–19 digits), for `card` only: hashed at once, never stored, logged or answered.
    public var pan: String?
    /// Why (1–200 characters), kept in the audit log and shown with the freeze.
    public var reason: String
    /// When the freeze ends by itself, ISO 8601 in UTC ("2026-12-07T06:00:00Z"); absent: until lifted.
    public var until: String?
    /// A freeze request; `value` and `until` are optional.
    public init(scope: String, value: String? = nil, pan: String? = nil, reason: String, until: String? = nil) {
        self.scope = scope
        self.value = value
        self.pan = pan
        self.reason = reason
        self.until = until
    }
}

/// A freeze as the API shows it.
public struct FreezeView: Codable, Sendable, Equatable {
    /// Its number (for `DELETE /v1/risk/freeze/{id}`).
    public var id: Int64
    /// `terminal`, `scheme`, `aid` or `card`.
    public var scope: String
    /// The frozen scheme or AID, or the card's masked PAN; nil for the terminal.
    public var value: String?
    /// Why.
    public var reason: String
    /// Who froze it.
    public var createdBy: String
    /// When.
    public var createdAt: Date
    /// When it ends by itself; nil: until lifted.
    public var endsAt: Date?
    /// When it was lifted; nil while it stands.
    public var liftedAt: Date?
    /// Who lifted it.
    public var liftedBy: String?
    /// Whether it stops acceptance now.
    public var active: Bool

    enum CodingKeys: String, CodingKey {
        case id, scope, value, reason
        case createdBy = "created_by"
        case createdAt = "created_at"
        case endsAt = "ends_at"
        case liftedAt = "lifted_at"
        case liftedBy = "lifted_by"
        case active
    }

    init(_ r: FreezeRecord, now: Date = Date()) {
        id = r.id
        scope = r.scope
        value = r.label ?? r.value
        reason = r.reason
        createdBy = r.createdBy
        createdAt = r.createdAt
        endsAt = r.endsAt
        liftedAt = r.liftedAt
        liftedBy = r.liftedBy
        active = r.isActive(at: now)
    }
}

/// The exception file in force, without its entries.
public struct ExceptionFileView: Codable, Sendable, Equatable {
    /// How many cards it lists.
    public var entries: Int
    /// SHA-256 of the file's text (hex), to compare with the risk team's copy.
    public var sha256: String
    /// Who loaded it.
    public var loadedBy: String
    /// When.
    public var loadedAt: Date

    enum CodingKeys: String, CodingKey {
        case entries, sha256
        case loadedBy = "loaded_by"
        case loadedAt = "loaded_at"
    }
}

/// One alert raised by the rules, the exception file or a freeze.
public struct RiskAlertView: Codable, Sendable, Equatable {
    /// `card_approvals_per_day`, `card_amount_per_day`, `terminal_sales_per_hour`, `terminal_amount_per_hour`,
    /// `terminal_amount_per_day`, `sale_amount`, `velocity`, `exception_file` or `frozen`.
    public var kind: String
    /// The alert in words (a masked PAN at most).
    public var message: String
    /// The sale it concerns.
    public var transactionId: String?
    /// When it was raised.
    public var at: Date

    enum CodingKeys: String, CodingKey {
        case kind, message
        case transactionId = "transaction_id"
        case at
    }
}

/// The alert rules in force as the API shows them (`[risk]` of tapd.toml): nil turns a rule off.
public struct RiskRules: Codable, Sendable, Equatable {
    /// The exception file tapd.toml names, if any.
    public var exceptionFile: String?
    /// Approvals of one card per day before an alert.
    public var cardApprovalsPerDay: Int?
    /// Amount approved on one card per day before an alert, in minor units.
    public var cardAmountPerDay: Int64?
    /// Sales per hour on this terminal before an alert.
    public var terminalSalesPerHour: Int?
    /// Amount per hour on this terminal before an alert.
    public var terminalAmountPerHour: Int64?
    /// Amount per day on this terminal before an alert.
    public var terminalAmountPerDay: Int64?
    /// One sale's amount above which an alert is raised.
    public var saleAmountAlert: Int64?

    init(_ r: RiskSettings) {
        exceptionFile = r.exceptionFile
        cardApprovalsPerDay = r.cardApprovalsPerDay
        cardAmountPerDay = r.cardAmountPerDay
        terminalSalesPerHour = r.terminalSalesPerHour
        terminalAmountPerHour = r.terminalAmountPerHour
        terminalAmountPerDay = r.terminalAmountPerDay
        saleAmountAlert = r.saleAmountAlert
    }

    enum CodingKeys: String, CodingKey {
        case exceptionFile = "exception_file"
        case cardApprovalsPerDay = "card_approvals_per_day"
        case cardAmountPerDay = "card_amount_per_day"
        case terminalSalesPerHour = "terminal_sales_per_hour"
        case terminalAmountPerHour = "terminal_amount_per_hour"
        case terminalAmountPerDay = "terminal_amount_per_day"
        case saleAmountAlert = "sale_amount_alert"
    }
}

/// `GET /v1/risk`: freezes standing, the exception file, the rules and the latest alerts.
public struct RiskStatus: Codable, Sendable {
    /// Freezes that stop acceptance now.
    public var frozen: [FreezeView]
    /// The exception file in force; nil when none is loaded.
    public var exceptionFile: ExceptionFileView?
    /// The alert rules in force.
    public var rules: RiskRules
    /// The last alerts, newest first (at most 50).
    public var recentAlerts: [RiskAlertView]

    enum CodingKeys: String, CodingKey {
        case frozen
        case exceptionFile = "exception_file"
        case rules
        case recentAlerts = "recent_alerts"
    }
}

/// The risk team's levers and the alert rules; the one writer of freezes and the exception file.
public actor RiskControls {
    let journal: Journal
    let events: EventHub
    let metrics: TapdMetrics
    let logger: Logger
    /// The kernels' risk manager: the exception file put in force here is the one they check.
    public nonisolated let manager: RiskManager
    var rules: RiskSettings
    var freezes: [FreezeRecord] = []
    var fileView: ExceptionFileView?
    var alerts: [RiskAlertView] = []
    /// The exception file replacement in progress; the next one waits for it.
    var replacing: Task<Void, Never>?
    /// The secret of card freezes' keyed PAN hashes (from the journal, sealed there).
    var cardKey: [UInt8] = []
    /// Approvals in the last day: when, how much, and the card's in-memory hash (a random salt per process).
    var approvals: [(at: Date, amount: Int64, card: [UInt8])] = []
    private let memorySalt = secureRandomBytes(16)

    /// The levers over `journal`, checking `manager`'s exception file and `rules`.
    public init(
        journal: Journal, events: EventHub, metrics: TapdMetrics, manager: RiskManager, rules: RiskSettings = .init(),
        logger: Logger = Logger(label: "tapd.risk")
    ) {
        self.journal = journal
        self.events = events
        self.metrics = metrics
        self.manager = manager
        self.rules = rules
        self.logger = logger
    }

    /// Reads freezes, the card hash salt and the exception file from the journal (at start). A stored exception
    /// file that no longer parses is left out with an alert; it never stops tapd.
    public func load() async throws {
        freezes = try await journal.activeFreezes()
        cardKey = try await journal.cardHashKey()
        if let stored = try await journal.exceptionFile() {
            do {
                let file = try ExceptionFile(text: stored.text)
                manager.replaceExceptionFile(file)
                fileView = Self.view(stored, entries: file.hashes.count)
            } catch {
                alert("exception_file", "the stored exception file cannot be read (\(error)); none is in force")
            }
        }
        metrics.setFrozenScopes(freezes.count)
    }

    /// New rules (a reload); the approvals counted so far still count.
    public func update(rules: RiskSettings) { self.rules = rules }

    // MARK: The levers

    /// Freezes acceptance for a scope at once; throws `TapdError.invalid` for a scope, value, reason or end that
    /// cannot be used.
    public func freeze(_ r: FreezeRequest, by actor: String, now: Date = Date()) async throws -> FreezeView {
        guard let scope = FreezeScope(rawValue: r.scope) else {
            throw TapdError.invalid("scope must be one of terminal, scheme, aid, card")
        }
        // 1–200 characters (Unicode scalars, as the OpenAPI document counts them) on one line, not only blanks.
        let scalars = r.reason.unicodeScalars
        guard (1...200).contains(scalars.count), !scalars.contains(where: { Self.lineBreaks.contains($0) }),
            scalars.contains(where: { !$0.properties.isWhitespace })
        else {
            throw TapdError.invalid("reason must be 1–200 characters on one line")
        }
        let reason = r.reason.trimmingCharacters(in: .whitespaces)
        if cardKey.isEmpty { cardKey = try await journaled { try await self.journal.cardHashKey() } }
        var value = try Self.normalised(scope, r.value)
        var label = value
        if scope == .card {
            guard let pan = r.pan, (12...19).contains(pan.count), pan.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw TapdError.invalid(
                    "pan must be the card's PAN, 12–19 digits (it is hashed at once and never kept)")
            }
            value = cardHash(pan)
            label = CardDataMask.pan(pan)
        } else if r.pan != nil {
            throw TapdError.invalid("pan belongs to a card freeze only")
        }
        var ends: Date? = nil
        if let until = r.until {
            guard let d = APIDate.dateTime(until) else {
                throw TapdError.invalid("until must be an RFC 3339 time, such as 2026-12-07T06:00:00Z")
            }
            // An end already past is kept as given: the freeze is recorded, ended (its view says active false).
            ends = d
        }
        let (endsAt, stored, shown) = (ends, value, label)
        let record = try await journaled {
            try await self.journal.addFreeze(
                scope: scope.rawValue, value: stored, label: shown, reason: reason, by: actor, endsAt: endsAt, now: now)
        }
        freezes.append(record)
        metrics.setFrozenScopes(active(now).count)
        alert("frozen", "acceptance frozen for \(Self.describe(record)) by \(actor): \(reason)", critical: true)
        return FreezeView(record, now: now)
    }

    /// Lifts a freeze; throws `TapdError.missing` when there is none with this id.
    public func unfreeze(_ id: Int64, by actor: String, now: Date = Date()) async throws -> FreezeView {
        let record: FreezeRecord
        do { record = try await journal.liftFreeze(id, by: actor, now: now) } catch JournalError.notFound {
            throw TapdError.missing("no freeze \(id)")
        } catch let e as JournalError { throw TapdError.journal(e) }
        freezes.removeAll { $0.id == id }
        metrics.setFrozenScopes(active(now).count)
        logger.notice("acceptance unfrozen", metadata: ["freeze": "\(id)", "by": "\(actor)"])
        return FreezeView(record, now: now)
    }

    /// Checks and puts in force a new exception file (it replaces the old one for the next card); throws
    /// `TapdError.invalid` naming the line when the text is not an exception file. Replacements run one after the
    /// other, so the file the kernels check is always the one the journal holds last.
    public func replaceExceptionFile(_ text: String, by actor: String, now: Date = Date()) async throws
        -> ExceptionFileView
    {
        let file: ExceptionFile
        do { file = try ExceptionFile(text: text) } catch { throw TapdError.invalid("\(error)") }
        let previous = replacing
        let task = Task { () -> Result<ExceptionFileView, any Error> in
            _ = await previous?.value
            do { return .success(try await self.putInForce(file, text, by: actor, now: now)) } catch {
                return .failure(error)
            }
        }
        replacing = Task { _ = await task.value }
        return try await task.value.get()
    }

    private func putInForce(_ file: ExceptionFile, _ text: String, by actor: String, now: Date) async throws
        -> ExceptionFileView
    {
        try await journaled { try await self.journal.storeExceptionFile(text, entries: file.hashes.count, by: actor) }
        manager.replaceExceptionFile(file)
        let v = ExceptionFileView(
            entries: file.hashes.count, sha256: Hex.encode(Digest.sha256(Array(text.utf8))).lowercased(),
            loadedBy: actor, loadedAt: now)
        fileView = v
        logger.notice("exception file replaced", metadata: ["entries": "\(v.entries)", "by": "\(actor)"])
        return v
    }

    /// The `[risk] exception_file` at start or on reload: put in force only when its content changed since it was
    /// last loaded from the configuration, so a file the risk team pushed through the API since is not replaced by
    /// an older configured one at the next restart or reload. Returns whether it was put in force.
    @discardableResult
    public func loadConfigured(_ text: String, path: String) async throws -> Bool {
        let sha = Hex.encode(Digest.sha256(Array(text.utf8))).lowercased()
        if try await journaled({ try await self.journal.riskNote("configured_exception_file") }) == sha {
            return false
        }
        _ = try await replaceExceptionFile(text, by: "configuration \(path)")
        try await journaled { try await self.journal.setRiskNote("configured_exception_file", sha) }
        return true
    }

    /// The levers as they stand.
    public func status(now: Date = Date()) -> RiskStatus {
        RiskStatus(
            frozen: active(now).map { FreezeView($0, now: now) }, exceptionFile: fileView, rules: RiskRules(rules),
            recentAlerts: alerts.reversed())
    }

    // MARK: Acceptance

    /// The freeze that stops every sale now, if any (checked before a sale starts).
    public func terminalFreeze(now: Date = Date()) -> FreezeView? {
        active(now).first { $0.scope == FreezeScope.terminal.rawValue }.map { FreezeView($0, now: now) }
    }

    /// The freeze that stops this card now, with the message the customer should see; nil when none applies.
    /// Checked once the card is read, before any message goes to the acquirer or an offline approval is recorded.
    public func block(scheme: String?, aid: [UInt8]?, pan: String?, transactionID: String?, now: Date = Date())
        -> (freeze: FreezeView, message: UIMessage)?
    {
        let aidHex = aid.map { Hex.encode($0).uppercased() }
        let card = pan.map(cardHash)
        // The terminal and the card first ("Not authorised"), then schemes and AIDs ("try another card").
        let order: [String: Int] = ["terminal": 0, "card": 1]
        for f in active(now).sorted(by: { (order[$0.scope] ?? 2, $0.id) < (order[$1.scope] ?? 2, $1.id) }) {
            let hit: Bool
            let message: UIMessage
            switch FreezeScope(rawValue: f.scope) {
            case .terminal:
                (hit, message) = (true, .notAuthorised)
            case .scheme:
                (hit, message) = (scheme?.lowercased() == f.value, .insertSwipeOrTryAnotherCard)
            case .aid:
                (hit, message) = (aidHex.map { $0.hasPrefix(f.value ?? "-") } ?? false, .insertSwipeOrTryAnotherCard)
            case .card:
                (hit, message) = (card == f.value, .notAuthorised)
            case nil:
                continue
            }
            if hit {
                alert(
                    "frozen", "a sale stopped by freeze #\(f.id) (\(Self.describe(f))): \(f.reason)",
                    transactionID: transactionID)
                return (FreezeView(f, now: now), message)
            }
        }
        return nil
    }

    // MARK: Rules

    /// An approved sale (online or offline): the alert rules count it. Never refuses anything.
    public func approved(amount: Int64, pan: String?, transactionID: String, now: Date = Date()) {
        let card = pan.map { Digest.sha256(memorySalt + Array($0.utf8)) } ?? []
        approvals.removeAll { now.timeIntervalSince($0.at) >= 86_400 }
        approvals.append((now, amount, card))
        let masked = pan.map(CardDataMask.pan) ?? "unknown card"
        let hour = approvals.filter { now.timeIntervalSince($0.at) < 3600 }
        let cardDay = card.isEmpty ? [] : approvals.filter { $0.card == card }
        func check(_ kind: String, _ value: Int64, _ limit: Int64?, _ what: String) {
            guard let limit, value > limit else { return }
            alert(kind, "\(what): \(value), above the limit of \(limit)", transactionID: transactionID)
        }
        if let l = rules.saleAmountAlert, amount >= l {
            alert("sale_amount", "a sale of \(amount) (alert at \(l)) with \(masked)", transactionID: transactionID)
        }
        check(
            "card_approvals_per_day", Int64(cardDay.count), rules.cardApprovalsPerDay.map(Int64.init),
            "approvals of \(masked) within a day")
        check(
            "card_amount_per_day", cardDay.reduce(0) { $0 + $1.amount }, rules.cardAmountPerDay,
            "amount approved to \(masked) within a day")
        check(
            "terminal_sales_per_hour", Int64(hour.count), rules.terminalSalesPerHour.map(Int64.init),
            "sales approved within an hour")
        check(
            "terminal_amount_per_hour", hour.reduce(0) { $0 + $1.amount }, rules.terminalAmountPerHour,
            "amount approved within an hour")
        check(
            "terminal_amount_per_day", approvals.reduce(0) { $0 + $1.amount }, rules.terminalAmountPerDay,
            "amount approved within a day")
    }

    /// Sets the freezes gauge from the freezes standing now (a freeze that ended by its `until` drops out); called at
    /// each scrape.
    public func refreshGauge(now: Date = Date()) { metrics.setFrozenScopes(active(now).count) }

    /// An alert from elsewhere (the kernels' velocity check).
    public func report(kind: String, message: String, transactionID: String?) {
        alert(kind, message, transactionID: transactionID)
    }

    // MARK: Helpers

    func alert(_ kind: String, _ message: String, transactionID: String? = nil, critical: Bool = false) {
        alerts.append(RiskAlertView(kind: kind, message: message, transactionId: transactionID, at: Date()))
        if alerts.count > 50 { alerts.removeFirst(alerts.count - 50) }
        events.publish(.riskAlert, transactionID: transactionID, detail: "\(kind): \(message)")
        metrics.riskAlert(kind)
        logger.log(
            level: critical ? .critical : .warning, "risk alert: \(message)",
            metadata: ["kind": "\(kind)", "transaction": "\(transactionID ?? "-")"])
    }

    func active(_ now: Date) -> [FreezeRecord] { freezes.filter { $0.isActive(at: now) } }

    /// A card's identity in a freeze: HMAC-SHA-256 of its PAN digits under the journal's card hash key (hex).
    func cardHash(_ pan: String) -> String {
        Hex.encode(Digest.hmacSHA256(key: cardKey, Array(pan.utf8))).lowercased()
    }

    func journaled<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as JournalError { throw TapdError.journal(e) }
    }

    static func view(_ s: StoredExceptionFile, entries: Int) -> ExceptionFileView {
        ExceptionFileView(
            entries: entries, sha256: Hex.encode(Digest.sha256(Array(s.text.utf8))).lowercased(),
            loadedBy: s.loadedBy, loadedAt: s.loadedAt)
    }

    /// A freeze in words: its scope and what people may see of its value (a card's masked PAN, never its hash).
    static func describe(_ f: FreezeRecord) -> String {
        f.scope + ((f.scope == "card" ? f.label : f.label ?? f.value).map { " " + $0 } ?? "")
    }

    /// The value a scope needs, in the form matching compares: a known scheme, an AID of 5–16 bytes (uppercase
    /// hex), a 32-byte hash (lowercase hex); none for the terminal.
    /// Characters that end a line (Swift's isNewline): a reason is one line.
    static let lineBreaks: Set<Unicode.Scalar> = ["\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}"]

    static func normalised(_ scope: FreezeScope, _ value: String?) throws -> String? {
        let v = value
        switch scope {
        case .terminal:
            guard v == nil else { throw TapdError.invalid("a terminal freeze takes no value") }
            return nil
        case .scheme:
            let known = ["visa", "mastercard", "amex", "jcb", "discover", "unionpay", "interac", "eftpos"]
            guard let s = v, known.contains(s) else {
                throw TapdError.invalid("value must be a scheme: \(known.joined(separator: ", "))")
            }
            return s
        case .aid:
            guard let s = v,
                s.utf8.allSatisfy({
                    (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0)
                }),
                let bytes = Hex.decode(s), (5...16).contains(bytes.count)
            else {
                throw TapdError.invalid("value must be an AID (or its first bytes) of 5–16 bytes in hex")
            }
            return Hex.encode(bytes).uppercased()
        case .card:
            guard v == nil else {
                throw TapdError.invalid("a card freeze names the card by pan, not value")
            }
            return nil
        }
    }
}
