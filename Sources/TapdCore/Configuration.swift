// tapd's configuration file, /etc/tapd/tapd.toml: seven tables (daemon, merchant, journal, terminal, readers, acquirer, risk), every
// key optional except the acquirer's identity when an [acquirer] table is present. Keys are snake_case in the file.
// An invalid file gives one error naming the file, the line and the key, before anything is opened or touched.

import Acquirer
import EMVKernel
import Foundation
import Journal
import Readers
import TLV
import TOMLKit

/// Where a configuration cannot be used, naming the file and, where known, the line and the key (carried by
/// `TapdError.configuration`).
public struct ConfigurationError: CustomStringConvertible, Equatable, Sendable {
    /// The file at fault: tapd.toml, or a file it names (such as the journal key file).
    public let file: String
    /// The line in the file, counted from 1; nil when the error is not tied to one line.
    public let line: Int?
    /// The table or key at fault, such as `daemon.card_timeout`; nil when the error concerns the whole file.
    public let key: String?
    /// What is wrong, and how to put it right where that is known.
    public let message: String
    /// An error in `file`, at `line` and `key` when they are known.
    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }
    /// One line for the operator: `file:line: key: message`, leaving out what is unknown.
    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(key.map { "\($0): " } ?? "")\(message)"
    }
}

/// Settings whose every key has a default (the file only overrides).
protocol DefaultedSettings: Codable { init() }
extension DefaultedSettings {
    static func defaultsJSON(_ encoder: JSONEncoder) throws -> Data { try encoder.encode(Self()) }
}
extension DaemonSettings: DefaultedSettings {}
extension JournalSettings: DefaultedSettings {}
extension TerminalSettings: DefaultedSettings {}
extension RiskSettings: DefaultedSettings {}
extension MerchantSettings: DefaultedSettings {}

/// The `[daemon]` table of tapd.toml: the API socket, logging, sale timeouts and the void window.
public struct DaemonSettings: Codable, Sendable, Equatable {
    /// The API's Unix socket.
    public var socket = "/run/tapd/api.sock"
    /// Group that may use the socket (mode 0660); left alone when the group does not exist.
    public var socketGroup = "tapd-pos"
    /// trace, debug, info, notice, warning, error, critical.
    public var logLevel = "info"
    /// Seconds a sale waits for a card before it ends as timed out.
    public var cardTimeout: Double = 60
    /// Seconds to wait for the card to leave the field after the outcome.
    public var removeCardTimeout: Double = 10
    /// Seconds SIGTERM waits for a transaction that has gone online to finish.
    public var shutdownGrace: Double = 30
    /// Taps one sale accepts (the first plus the "see phone" / "try again" ones).
    public var maxTaps: Int = 3
    /// How long an approved sale may be voided: "same_day" (until local midnight of the sale's day, the business
    /// day) or a duration such as "30m", "2h", "1d".
    public var voidWindow = "same_day"
    /// How long an approved pre-authorisation stays open before tapd releases it (its reversal), as a duration
    /// ("7d", "36h"); card schemes hold an authorisation for days, not weeks.
    public var preauthExpiry = "7d"
    /// How far a pre-authorisation's completion may go above the authorised amount, in percent (tips, a hotel's
    /// extras); 0 (the default) allows no more than was authorised.
    public var completionTolerancePercent: Double = 0
    /// Refunds only against a sale of this terminal (`original_id`); false also allows stand-alone refunds.
    public var refundRequiresOriginal = false
    /// "host:port" of a TCP listener serving `GET /metrics` alone (Prometheus cannot scrape a Unix socket), such as
    /// "127.0.0.1:9464"; nil (the default) serves metrics on the API socket only.
    public var metricsAddress: String? = nil
    /// Every `[daemon]` key at its default.
    public init() {}
}

extension DaemonSettings {
    /// "127.0.0.1:9464" → ("127.0.0.1", 9464); "[::1]:9464" → ("::1", 9464); nil when it is not host:port.
    public static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        return (host, port)
    }
}

/// The `[merchant]` table of tapd.toml: who the merchant is, as receipts print it.
public struct MerchantSettings: Codable, Sendable, Equatable {
    /// The merchant's trading name, the first line of a receipt.
    public var name = "tapd merchant"
    /// Where the shop is (street, city), the second line of a receipt.
    public var location = ""
    /// Every `[merchant]` key at its default.
    public init() {}
}

/// The `[journal]` table of tapd.toml: the journal's database, its key and how long card data is kept.
public struct JournalSettings: Codable, Sendable, Equatable {
    /// `[journal] path`: the journal's SQLite database, an absolute path.
    public var path = "/var/lib/tapd/journal.sqlite"
    /// 32-byte key (raw or 64 hex digits). Default: $CREDENTIALS_DIRECTORY/journal.key under systemd, else
    /// /etc/tapd/journal.key.
    public var keyFile: String? = nil
    /// Days after which the sealed card data of settled transactions is deleted.
    public var cardDataRetentionDays: Double = 7
    /// Every `[journal]` key at its default.
    public init() {}

    /// The journal key file: `[journal] key_file` when set, else $CREDENTIALS_DIRECTORY/journal.key, else
    /// /etc/tapd/journal.key.
    public func resolvedKeyFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let keyFile { return keyFile }
        if let dir = environment["CREDENTIALS_DIRECTORY"] { return dir + "/journal.key" }
        return "/etc/tapd/journal.key"
    }
}

extension JournalSettings {
    /// The journal key under the one key-file rule (regular file, no symbolic link, owned by tapd's user or root,
    /// mode 0600 or 0400): 32 raw bytes or 64 hex digits.
    public static func loadKey(_ path: String) throws -> JournalKey {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw TapdError.badConfiguration(
                file: path, line: nil, key: nil,
                message: "missing (create it with: head -c 32 /dev/urandom > \(path); chmod 600 \(path))")
        }
        do { return try JournalKey.read(path) } catch JournalError.key(let e) {
            let message: String =
                switch e {
                case .tooOpen: "readable by other users (chmod 600 \(path))"
                case .wrongSize: "must hold 32 bytes (raw) or 64 hex digits"
                case .refused(_, let why): why
                case .unreadable: "cannot be read by the user tapd runs as"
                }
            throw TapdError.badConfiguration(file: path, line: nil, key: nil, message: message)
        }
    }
}

/// The `[terminal]` table of tapd.toml: the EMV terminal configuration and the CA public keys to trust.
public struct TerminalSettings: Codable, Sendable, Equatable {
    /// A terminal configuration in JSON (README, "Terminal configuration"); built-in defaults when absent.
    public var configuration: String? = nil
    /// Extra CA public key file (the .capk format) beside the bundled production keys.
    public var caKeys: String? = nil
    /// Trust the EMVCo/scheme TEST CA keys too. Never on a production terminal (`tapctl diagnose` fails it).
    public var testKeys = false
    /// Every `[terminal]` key at its default.
    public init() {}
}

/// The whole of tapd.toml, checked: each table's settings with the defaults for every key the file leaves out.
public struct TapdConfiguration: Sendable {
    /// The `[daemon]` table.
    public var daemon = DaemonSettings()
    /// The `[journal]` table.
    public var journal = JournalSettings()
    /// The `[terminal]` table.
    public var terminal = TerminalSettings()
    /// The `[readers]` table: which readers tapd uses and how.
    public var readers = ReaderManagerConfiguration()
    /// The `[acquirer]` table: the acquirer link; nil when the file has none, and then online sales fail.
    public var acquirer: AcquirerConfiguration? = nil
    /// The `[risk]` table: the exception file to load and the alert rules.
    public var risk = RiskSettings()
    /// The `[merchant]` table: the name and location receipts print.
    public var merchant = MerchantSettings()
    /// The file the configuration was read from (named in error messages), or "(defaults)".
    public var source = "(defaults)"
    /// The built-in defaults, with no `[acquirer]` table.
    public init() {}

    /// Every key the file may hold, with its default, for the README and for catching typos.
    public static let keys: [String: [String]] = [
        "daemon": [
            "socket", "socket_group", "log_level", "card_timeout", "remove_card_timeout", "shutdown_grace", "max_taps",
            "void_window", "metrics_address", "preauth_expiry", "completion_tolerance_percent",
            "refund_requires_original",
        ],
        "merchant": ["name", "location"],
        "journal": ["path", "key_file", "card_data_retention_days"],
        "terminal": ["configuration", "ca_keys", "test_keys"],
        "readers": ["pcsc", "exclusive", "libnfc", "preferred", "ignore", "signals", "virtual_readers"],
        "risk": [
            "exception_file", "card_approvals_per_day", "card_amount_per_day", "terminal_sales_per_hour",
            "terminal_amount_per_hour", "terminal_amount_per_day", "sale_amount_alert",
        ],
        "acquirer": [
            "host", "port", "ca_file", "client_certificate_file", "client_key_file", "spki_pin", "profile",
            "connect_timeout", "response_timeout", "persistent_connection", "echo_interval", "terminal_id",
            "merchant_id", "acquirer_institution_id", "nii", "request_mti", "reversal_mti", "refund_mti", "sign_on",
            "drain_before_online", "saf_expiry", "saf_alert_after", "saf_max_attempts", "saf_retry_response_codes",
            "saf_accepted_response_codes", "partial_approvals", "saf_retry_interval", "saf_retry_max_interval",
            "settlement_batch_field", "settlement_processing_code", "settlement_after_upload_processing_code",
            "settlement_out_of_balance_codes", "settlement_reversals",
        ],
    ]

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads and checks a configuration file.
    public static func load(file: String) throws -> TapdConfiguration {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw TapdError.badConfiguration(
                file: file, line: nil, key: nil,
                message: "cannot read the file: \((error as NSError).localizedDescription)")
        }
        return try parse(text, file: file)
    }

    /// Parses and checks the text of a tapd.toml; `file` names it in errors. Throws `TapdError.configuration`.
    public static func parse(_ text: String, file: String = "tapd.toml") throws -> TapdConfiguration {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw TapdError.badConfiguration(
                file: file, line: e.source.begin.line, key: nil, message: "not valid TOML: \(e.description)")
        }
        let lines = LineFinder(text)
        // Unknown tables and keys are errors: a typo must not silently fall back to a default.
        for section in table.keys.sorted() {
            guard let known = keys[section] else {
                throw TapdError.badConfiguration(
                    file: file, line: lines.table(section), key: section,
                    message: "unknown table (expected one of \(keys.keys.sorted().joined(separator: ", ")))")
            }
            guard let sub = table[section]?.table else {
                throw TapdError.badConfiguration(
                    file: file, line: lines.key(section, in: nil), key: section,
                    message: "must be a table ([\(section)])")
            }
            for k in sub.keys.sorted() where !known.contains(k) {
                throw TapdError.badConfiguration(
                    file: file, line: lines.key(k, in: section), key: "\(section).\(k)", message: "unknown key")
            }
        }
        var c = TapdConfiguration()
        c.source = file
        func decode<T: Decodable>(_ section: String, _ type: T.Type) throws -> T? {
            guard let sub = table[section]?.table else { return nil }
            var json = Data(sub.convert(to: .json).utf8)
            // Settings without a decoder of their own: the file's keys over the defaults, so every key is optional.
            if let defaulted = T.self as? any DefaultedSettings.Type,
                let given = try? JSONSerialization.jsonObject(with: json) as? [String: Any]
            {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                var merged =
                    (try? JSONSerialization.jsonObject(with: defaulted.defaultsJSON(encoder))) as? [String: Any] ?? [:]
                for (k, v) in given { merged[k] = v }
                json = try JSONSerialization.data(withJSONObject: merged)
            }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .custom { path in
                SnakeKey(camel: path.last.map { camel($0.stringValue) } ?? "")
            }
            do { return try decoder.decode(T.self, from: json) } catch let e as DecodingError {
                let (path, message) = describe(e)
                let key = path.last
                throw TapdError.badConfiguration(
                    file: file, line: key.flatMap { lines.key(snake($0), in: section) } ?? lines.table(section),
                    key: ([section] + path.map(snake)).joined(separator: "."), message: message)
            }
        }
        if let d = try decode("daemon", DaemonSettings.self) { c.daemon = d }
        if let j = try decode("journal", JournalSettings.self) { c.journal = j }
        if let t = try decode("terminal", TerminalSettings.self) { c.terminal = t }
        if let r = try decode("readers", ReaderManagerConfiguration.self) { c.readers = r }
        c.acquirer = try decode("acquirer", AcquirerConfiguration.self)
        if let r = try decode("risk", RiskSettings.self) { c.risk = r }
        if let m = try decode("merchant", MerchantSettings.self) { c.merchant = m }

        func check(_ ok: Bool, _ section: String, _ key: String, _ why: String) throws {
            guard ok else {
                throw TapdError.badConfiguration(
                    file: file, line: lines.key(key, in: section), key: "\(section).\(key)", message: why)
            }
        }
        try check(c.daemon.socket.hasPrefix("/"), "daemon", "socket", "must be an absolute path")
        try check(
            logLevels.contains(c.daemon.logLevel), "daemon", "log_level",
            "must be one of \(logLevels.joined(separator: ", "))")
        try check((1...3600).contains(c.daemon.cardTimeout), "daemon", "card_timeout", "must be 1–3600 seconds")
        try check(
            (0...600).contains(c.daemon.removeCardTimeout), "daemon", "remove_card_timeout", "must be 0–600 seconds")
        try check((0...600).contains(c.daemon.shutdownGrace), "daemon", "shutdown_grace", "must be 0–600 seconds")
        try check((1...5).contains(c.daemon.maxTaps), "daemon", "max_taps", "must be 1–5")
        try check(
            VoidWindow(c.daemon.preauthExpiry).map { if case .seconds = $0 { true } else { false } } ?? false,
            "daemon", "preauth_expiry", "must be a duration such as \"7d\" or \"36h\"")
        try check(
            (0...100).contains(c.daemon.completionTolerancePercent), "daemon", "completion_tolerance_percent",
            "must be 0–100")
        try check(c.merchant.name.count <= 64, "merchant", "name", "must be at most 64 characters")
        try check(c.merchant.location.count <= 64, "merchant", "location", "must be at most 64 characters")
        try check(
            VoidWindow(c.daemon.voidWindow) != nil, "daemon", "void_window",
            "must be same_day or a duration such as 30m, 2h, 1d")
        try check(
            c.daemon.metricsAddress.map { DaemonSettings.hostAndPort($0) != nil } ?? true, "daemon", "metrics_address",
            "must be host:port, such as 127.0.0.1:9464 or [::1]:9464")
        try check(c.journal.path.hasPrefix("/"), "journal", "path", "must be an absolute path")
        try check(
            c.journal.keyFile.map { $0.hasPrefix("/") } ?? true, "journal", "key_file", "must be an absolute path")
        try check(c.journal.cardDataRetentionDays > 0, "journal", "card_data_retention_days", "must be more than 0")
        try check(
            c.risk.exceptionFile.map { $0.hasPrefix("/") } ?? true, "risk", "exception_file", "must be an absolute path"
        )
        for (key, limit) in c.risk.limits {
            try check(limit.map { $0 > 0 } ?? true, "risk", key, "must be more than 0 (leave it out to turn it off)")
        }
        try check(
            c.readers.pcsc || !c.readers.libnfc.isEmpty, "readers", "pcsc",
            "no reader back end is enabled (pcsc = false and no libnfc devices)")
        return c
    }

    /// The terminal configuration and CA keys the kernels use.
    public func kernelSetup() throws -> (TerminalConfiguration, CAKeyStore) {
        var terminalConfiguration = TerminalConfiguration()
        if let path = terminal.configuration {
            do {
                terminalConfiguration = try TerminalConfiguration.load(
                    json: try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw TapdError.badConfiguration(
                    file: source, line: nil, key: "terminal.configuration", message: "\(path): \(error)")
            }
        }
        do {
            let keys = try CAKeyStore.terminal(
                includeTestKeys: terminal.testKeys, operatorFile: terminal.caKeys,
                read: { try? String(contentsOfFile: $0, encoding: .utf8) }
            ).store
            return (terminalConfiguration, keys)
        } catch  where error is CAKeyFileUnreadable || (error as? CAKeyFileError)?.source == terminal.caKeys {
            // The operator's file: named by its key. A broken bundled file is an installation fault and stays as it is.
            throw TapdError.badConfiguration(file: source, line: nil, key: "terminal.ca_keys", message: "\(error)")
        }
    }

    // MARK: Keys and lines

    /// caFile → ca_file, terminalID → terminal_id, requestMTI → request_mti.
    static func snake(_ camel: String) -> String {
        var out = ""
        var previous: Character?
        for ch in camel {
            if ch.isUppercase, let p = previous, p.isLowercase || p.isNumber { out.append("_") }
            out += ch.lowercased()
            previous = ch
        }
        return out
    }

    /// The camelCase key (as the Swift types spell it) of a snake_case file key.
    static func camel(_ snakeKey: String) -> String {
        for list in keys.values { for k in list where k == snakeKey { return camelNames[k] ?? snakeKey } }
        return snakeKey
    }

    static let camelNames: [String: String] = {
        let all = [
            "socket", "socketGroup", "logLevel", "cardTimeout", "removeCardTimeout", "shutdownGrace", "maxTaps", "path",
            "keyFile",
            "cardDataRetentionDays", "configuration", "caKeys", "testKeys", "pcsc", "exclusive", "libnfc", "preferred",
            "ignore",
            "signals", "host", "port", "caFile", "clientCertificateFile", "clientKeyFile", "spkiPin", "profile",
            "connectTimeout",
            "responseTimeout", "persistentConnection", "echoInterval", "terminalID", "merchantID",
            "acquirerInstitutionID", "nii",
            "requestMTI", "reversalMTI", "refundMTI", "signOn", "drainBeforeOnline", "safExpiry", "safAlertAfter",
            "safMaxAttempts",
            "safRetryResponseCodes", "safAcceptedResponseCodes", "partialApprovals", "safRetryInterval",
            "safRetryMaxInterval",
            "voidWindow", "virtualReaders", "metricsAddress", "exceptionFile", "cardApprovalsPerDay",
            "cardAmountPerDay",
            "terminalSalesPerHour", "terminalAmountPerHour", "terminalAmountPerDay", "saleAmountAlert",
            "preauthExpiry", "completionTolerancePercent", "refundRequiresOriginal", "name", "location",
            "settlementBatchField", "settlementProcessingCode", "settlementAfterUploadProcessingCode",
            "settlementOutOfBalanceCodes", "settlementReversals",
        ]
        return Dictionary(uniqueKeysWithValues: all.map { (snake($0), $0) })
    }()

    static func describe(_ e: DecodingError) -> ([String], String) {
        switch e {
        case .typeMismatch(let t, let ctx): return (ctx.codingPath.map(\.stringValue), "expected \(typeName(t))")
        case .valueNotFound(let t, let ctx): return (ctx.codingPath.map(\.stringValue), "expected \(typeName(t))")
        case .keyNotFound(let k, let ctx): return (ctx.codingPath.map(\.stringValue) + [k.stringValue], "is required")
        case .dataCorrupted(let ctx): return (ctx.codingPath.map(\.stringValue), ctx.debugDescription)
        @unknown default: return ([], "\(e)")
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is UInt16.Type, is UInt8.Type: "an integer"
        case is Double.Type: "a number"
        case is [String].Type: "a list of strings"
        default: "\(t)"
        }
    }
}

struct SnakeKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(camel: String) { stringValue = camel }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Finds the line of a table header or of a key inside a table, for error messages.
struct LineFinder {
    let lines: [Substring]
    init(_ text: String) { lines = text.split(separator: "\n", omittingEmptySubsequences: false) }

    func table(_ name: String) -> Int? {
        lines.firstIndex {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "") == "[\(name)]"
        }.map { $0 + 1 }
    }

    func key(_ key: String, in section: String?) -> Int? {
        var current: String? = nil
        for (i, raw) in lines.enumerated() {
            let t = raw.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("[") {
                current = t.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                continue
            }
            guard current == section else { continue }
            let name = t.split(separator: "=", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            if name == key { return i + 1 }
        }
        return nil
    }
}

/// The `[risk]` table of tapd.toml: the exception file loaded at start and on reload, and the alert rules (each
/// raises a `risk_alert` event, a metric and a log line; none refuses a sale: freezes do that).
public struct RiskSettings: Codable, Sendable, Equatable {
    /// An exception file (salt line, salted PAN hashes) loaded at start and on reload; nil keeps the one last loaded
    /// through the API.
    public var exceptionFile: String? = nil
    /// Alert when one card gets more approvals than this within a day.
    public var cardApprovalsPerDay: Int? = nil
    /// Alert when one card's approved amounts within a day pass this (minor units).
    public var cardAmountPerDay: Int64? = nil
    /// Alert when the terminal approves more sales than this within an hour.
    public var terminalSalesPerHour: Int? = nil
    /// Alert when the terminal's approved amounts within an hour pass this (minor units).
    public var terminalAmountPerHour: Int64? = nil
    /// Alert when the terminal's approved amounts within a day pass this (minor units).
    public var terminalAmountPerDay: Int64? = nil
    /// Alert for any single approved sale of at least this amount (minor units).
    public var saleAmountAlert: Int64? = nil
    /// Every `[risk]` key at its default (no exception file, no alert rule).
    public init() {}

    /// Each rule's key and limit (nil: off), for checking.
    var limits: [(String, Int64?)] {
        [
            ("card_approvals_per_day", cardApprovalsPerDay.map(Int64.init)), ("card_amount_per_day", cardAmountPerDay),
            ("terminal_sales_per_hour", terminalSalesPerHour.map(Int64.init)),
            ("terminal_amount_per_hour", terminalAmountPerHour), ("terminal_amount_per_day", terminalAmountPerDay),
            ("sale_amount_alert", saleAmountAlert),
        ]
    }
}
