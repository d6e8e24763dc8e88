// tapctl's commands that talk to a running tapd over its API socket: status, readers, sale, refund, preauth,
// complete, cancel, void, history, show, receipt, settle, report, events. Every answer is decoded into the API's own
// Codable models (the server's types); readable output by default, the API's JSON with --json. Amounts are entered
// and shown with the terminal currency's own minor units (12.34 EUR, 1200 JPY, 1.234 BHD).
import ArgumentParser
import ControlAPI
import Foundation
import NIOHTTP1
import Readers
import TLV
import TapdCore

/// A failure of tapctl itself: the message goes to standard error and the exit code tells a script what happened
/// (2 refused by tapd, 3 tapd failed or answered nonsense, 4 tapd not reachable).
func failure(_ message: String, exitCode: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("tapctl: \(message)\n".utf8))
    return ExitCode(exitCode)
}

struct ClientOptions: ParsableArguments {
    @Option(help: "tapd's API socket (default: $TAPD_SOCKET or /run/tapd/api.sock).")
    var socket: String?

    @Flag(help: "Print the API's JSON instead of text.")
    var json = false

    var client: APIClient {
        APIClient(socketPath: socket ?? ProcessInfo.processInfo.environment["TAPD_SOCKET"] ?? "/run/tapd/api.sock")
    }

    /// One call, its answer decoded as `T`. With --json the answer's JSON is printed as tapd sent it. A refusal
    /// exits 2, a failure of tapd 3, an unreachable tapd 4.
    @discardableResult
    func call<T: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (some Encodable)? = nil as APIClient.Empty?, raw: Data? = nil,
        as type: T.Type = T.self
    ) async throws -> T {
        let r: APIResponse
        do {
            let data = try raw ?? body.map { try JSONEncoder().encode($0) }
            r = try await client.request(method.rawValue, path, body: data)
        } catch {
            throw failure("\(error)", exitCode: 4)
        }
        do {
            let value = try APIClient.decode(T.self, r)
            if json { printJSON(r.body) }
            return value
        } catch let e as APIError {
            FileHandle.standardError.write(Data("tapctl: \(e.description)\n".utf8))
            if json { printJSON(r.body) }
            throw ExitCode(e.status >= 500 ? 3 : 2)
        } catch {
            throw failure("\(error)", exitCode: 3)
        }
    }

    func printJSON(_ body: Data) {
        if let o = try? JSONSerialization.jsonObject(with: body),
            let d = try? JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
        {
            print(String(decoding: d, as: UTF8.self))
        } else {
            print(String(decoding: body, as: UTF8.self))
        }
    }

    /// The terminal's currency and its minor-unit digits, from tapd's status.
    func currency() async throws -> (code: String, exponent: Int) {
        let quiet = ClientOptions(socket: socket, json: false)
        let s: APIStatus = try await quiet.call(.GET, "/v1/status")
        return (s.currency, s.currencyExponent)
    }

    init() {}
    init(socket: String?, json: Bool) {
        self.socket = socket
        self.json = json
    }
}

/// Amounts as people write them, in the currency's minor units.
enum Amount {
    /// "12.34" with exponent 2 → 1234; "1200" with 0 → 1200; "1.234" with 3 → 1234. More decimals than the currency
    /// has, signs, zero or other characters are refused (nil).
    static func minorUnits(_ text: String, exponent: Int) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
            parts[0].count <= 12
        else { return nil }
        var fraction = ""
        if parts.count == 2 {
            guard exponent > 0, (1...exponent).contains(parts[1].count),
                parts[1].allSatisfy({ $0.isASCII && $0.isNumber })
            else { return nil }
            fraction = String(parts[1])
        }
        fraction += String(repeating: "0", count: exponent - fraction.count)
        guard let minor = Int64(String(parts[0]) + fraction), minor > 0, minor <= 999_999_999_999 else { return nil }
        return minor
    }

    /// Minor units written with the currency's exponent and its code: "12.34 EUR", "1200 JPY".
    static func text(_ minor: Int64, _ currency: String) -> String {
        let numeric = Int(currency) ?? ISOCodes.currencyNumber(currency) ?? 978
        return Receipt.amountDigits(minor, exponent: ISOCodes.exponent(numeric)) + " " + currency
    }
}

enum Render {
    static func transaction(_ t: TransactionView) -> String {
        var head = "\(t.id)  \(t.type)  \(Amount.text(t.amount, t.currency))  \(t.status.rawValue)"
        if let o = t.originalID { head += "  (refund of \(o))" }
        var lines = [head]
        var details: [String] = []
        if let p = t.maskedPAN { details.append("card \(p)") }
        if let k = t.scheme { details.append(k) }
        if let c = t.cvm { details.append("CVM \(c)") }
        if let r = t.responseCode { details.append("response \(r)") }
        if let a = t.approvalCode { details.append("approval \(a)") }
        if let st = t.stan { details.append("STAN \(st)") }
        if let rd = t.reader { details.append("reader \(rd)") }
        if !details.isEmpty { lines.append("  " + details.joined(separator: ", ")) }
        if let reason = t.reason { lines.append("  \(reason)") }
        if let a = t.approvedAmount {
            lines.append("  approved: \(Amount.text(a, t.currency)) of \(Amount.text(t.amount, t.currency))")
        }
        if let c = t.completedAmount { lines.append("  completed for \(Amount.text(c, t.currency))") }
        for f in t.followUps {
            lines.append("  \(f.kind) \(f.mti) #\(f.id): \(f.status)" + (f.lastError.map { " (\($0))" } ?? ""))
        }
        lines.append("  journal: \(t.journalState), created \(APITimestamp.iso8601(t.createdAt))")
        return lines.joined(separator: "\n")
    }

    static func batch(_ b: BatchView, currency: String) -> String {
        let t = b.totals
        var lines = [
            "batch \(b.id): \(b.state)\(b.responseCode.map { " (acquirer \($0))" } ?? "")",
            "  sales      \(t.debits)  \(Amount.text(t.debitsAmount, currency))",
            "  voids      \(t.debitReversals)  \(Amount.text(t.debitReversalsAmount, currency))",
            "  refunds    \(t.credits)  \(Amount.text(t.creditsAmount, currency))",
            "  refund voids \(t.creditReversals)  \(Amount.text(t.creditReversalsAmount, currency))",
            "  net        \(Amount.text(b.net, currency))",
        ]
        if b.uploaded > 0 { lines.append("  uploaded: \(b.uploaded) transaction(s)") }
        if let e = b.lastError { lines.append("  last error: \(e)") }
        return lines.joined(separator: "\n")
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show tapd's state: readers, acquirer link, store-and-forward, last sale.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let s: APIStatus = try await options.call(.GET, "/v1/status")
        if options.json { return }
        let up = s.uptimeSeconds
        print(
            "tapd \(s.version) — \(s.state), up \(Int(up) / 3600)h\(Int(up) % 3600 / 60)m\(Int(up) % 60)s, \(s.activeTransactions) sale(s) running, currency \(s.currency)"
        )
        print("Readers: \(s.readers.isEmpty ? "none attached" : "")")
        for rd in s.readers {
            print("  \(rd.name) [\(rd.backend.rawValue)] \(rd.state.rawValue)\(rd.lastError.map { " — \($0)" } ?? "")")
        }
        if s.acquirer.configured {
            print(
                "Acquirer: \(s.acquirer.host ?? "?"):\(s.acquirer.port.map(String.init) ?? "?") \(s.acquirer.connected ? "connected" : "not connected")\(s.acquirer.lastError.map { " — last error: \($0)" } ?? "")"
            )
        } else {
            print("Acquirer: not configured")
        }
        print("Store-and-forward: \(s.safDepth) pending, \(s.safQuarantined) quarantined")
        if let last = s.lastTransaction {
            print(
                "Last sale:\n"
                    + Render.transaction(last).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
    }
}

struct Readers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the readers tapd uses.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let list: [ReaderSnapshot] = try await options.call(.GET, "/v1/readers")
        if options.json { return }
        if list.isEmpty { print("no reader attached (tapctl diagnose tells why)") }
        for rd in list {
            print(
                "\(rd.name)  [\(rd.backend.rawValue)]  \(rd.state.rawValue)\(rd.model.map { "  \($0)" } ?? "")\(rd.lastError.map { "  last error: \($0)" } ?? "")"
            )
        }
    }
}

/// What `sale`, `refund` and `preauth` share: start a transaction and, with --wait, follow it to its end.
struct Start {
    let options: ClientOptions
    let type: String
    let amount: String
    var originalID: String? = nil
    var reader: String? = nil
    var idempotencyKey: String? = nil
    var wait = false

    func run() async throws {
        let (currency, exponent) = try await options.currency()
        guard let minor = Amount.minorUnits(amount, exponent: exponent) else {
            throw ValidationError(
                "amount must be more than zero with at most \(exponent) decimal(s) for \(currency), e.g. \(Receipt.amountDigits(1234, exponent: exponent))"
            )
        }
        let request = SaleRequest(
            type: type, amount: minor, reader: reader,
            idempotencyKey: idempotencyKey ?? UUID().uuidString.lowercased(), originalID: originalID)
        let started: TransactionView = try await options.call(.POST, "/v1/transactions", body: request)
        if !wait {
            if !options.json { print(Render.transaction(started)) }
            return
        }
        let quiet = options.json
        if !quiet { print("\(type) \(started.id): \(Amount.text(minor, started.currency))") }
        // Follow its events (the recent ones are replayed, so nothing between the POST and now is missed).
        final class Seen: @unchecked Sendable { var last = "" }
        let seen = Seen()
        let id = started.id
        if !started.final {
            try await options.client.events(replay: 64) { kind, data in
                guard let e = try? APIClient.decoder.decode(TapdEvent.self, from: data), e.transactionID == id else {
                    return true
                }
                if kind == "ui", let m = e.message, m != seen.last {
                    seen.last = m
                    if !quiet { print("  [\(m)]") }
                }
                if kind == "transaction", let status = e.status {
                    if !quiet { print("  \(status)") }
                    if let s = SaleStatus(rawValue: status), s.isFinal { return false }
                }
                return true
            }
        }
        let final: TransactionView = try await ClientOptions(socket: options.socket, json: options.json).call(
            .GET, "/v1/transactions/\(id)")
        if !quiet { print(Render.transaction(final)) }
        if final.status != .approved && final.status != .partiallyApproved { throw ExitCode(1) }
    }
}

struct Sale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a sale of AMOUNT (in the terminal's currency: 12.34 EUR, 1200 JPY).",
        discussion:
            "With --wait, follows the sale live (present card → processing → result); the exit code is 0 when approved, 1 otherwise."
    )
    @OptionGroup var options: ClientOptions
    @Argument(help: "Amount, e.g. 12.34") var amount: String
    @Option(help: "Reader name (or prefix); the preferred or first idle reader when left out.") var reader: String?
    @Option(help: "Idempotency key: the same key never starts a second sale (default: a new UUID).") var idempotencyKey:
        String?
    @Flag(help: "Wait for the result, showing progress.") var wait = false

    func run() async throws {
        try await Start(
            options: options, type: "sale", amount: amount, reader: reader, idempotencyKey: idempotencyKey, wait: wait
        ).run()
    }
}

struct Refund: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give AMOUNT back to the card tapped (linked to a sale with --original).",
        discussion:
            "The card is read (it answers a refund with an AAC) and the refund goes online. A linked refund cannot exceed what is left of its sale."
    )
    @OptionGroup var options: ClientOptions
    @Argument(help: "Amount, e.g. 12.34") var amount: String
    @Option(help: "The sale it gives money back from (its transaction id).") var original: String?
    @Option(help: "Reader name (or prefix).") var reader: String?
    @Option(help: "Idempotency key (default: a new UUID).") var idempotencyKey: String?
    @Flag(help: "Wait for the result, showing progress.") var wait = false

    func run() async throws {
        try await Start(
            options: options, type: "refund", amount: amount, originalID: original, reader: reader,
            idempotencyKey: idempotencyKey, wait: wait
        ).run()
    }
}

struct Preauth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-authorise AMOUNT (hotels, car hire, fuel); complete it later with `tapctl complete`.",
        discussion: "Without an argument, lists the open pre-authorisations.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Amount, e.g. 150.00") var amount: String?
    @Option(help: "Reader name (or prefix).") var reader: String?
    @Option(help: "Idempotency key (default: a new UUID).") var idempotencyKey: String?
    @Flag(help: "Wait for the result, showing progress.") var wait = false

    func run() async throws {
        guard let amount else {
            let open: [TransactionView] = try await options.call(.GET, "/v1/preauthorisations")
            if options.json { return }
            if open.isEmpty { print("no open pre-authorisation") }
            for t in open { print(Render.transaction(t)) }
            return
        }
        try await Start(
            options: options, type: "preauth", amount: amount, reader: reader, idempotencyKey: idempotencyKey,
            wait: wait
        ).run()
    }
}

struct Complete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Complete a pre-authorisation for its final AMOUNT (at most the authorised amount plus the tolerance)."
    )
    @OptionGroup var options: ClientOptions
    @Argument(help: "The pre-authorisation's transaction id.") var id: String
    @Argument(help: "The final amount, e.g. 162.50") var amount: String

    func run() async throws {
        let (currency, exponent) = try await options.currency()
        guard let minor = Amount.minorUnits(amount, exponent: exponent) else {
            throw ValidationError("amount must be more than zero with at most \(exponent) decimal(s) for \(currency)")
        }
        let t: TransactionView = try await options.call(
            .POST, "/v1/transactions/\(id)/complete", body: CompletionRequest(amount: minor))
        if !options.json { print(Render.transaction(t)) }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a sale that has not gone online yet, or release an open pre-authorisation.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String

    func run() async throws {
        let t: TransactionView = try await options.call(.POST, "/v1/transactions/\(id)/cancel")
        if !options.json { print(Render.transaction(t)) }
    }
}

struct Void_: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "void", abstract: "Void (reverse) an approved sale.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String

    func run() async throws {
        let t: TransactionView = try await options.call(.POST, "/v1/transactions/\(id)/void")
        if !options.json { print(Render.transaction(t)) }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent transactions, newest first.")
    @OptionGroup var options: ClientOptions
    @Option(help: "How many (1–200).") var limit = 20
    @Option(help: "Continue after this transaction id (the last one of the previous page).") var after: String?

    func run() async throws {
        let list: [TransactionView] = try await options.call(
            .GET, "/v1/transactions?limit=\(limit)" + (after.map { "&after=\($0)" } ?? ""))
        if options.json { return }
        if list.isEmpty { print("no transactions yet") }
        for t in list { print(Render.transaction(t)) }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one transaction.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String

    func run() async throws {
        let t: TransactionView = try await options.call(.GET, "/v1/transactions/\(id)")
        if !options.json { print(Render.transaction(t)) }
    }
}

struct ReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Print a transaction's receipt for a thermal printer (or its data with --json).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String
    @Option(help: "customer or merchant.") var copy = "customer"
    @Option(help: "Printer width in characters: 32, 42 or 48.") var width = 42

    func run() async throws {
        guard ["customer", "merchant"].contains(copy) else { throw ValidationError("--copy is customer or merchant") }
        guard [32, 42, 48].contains(width) else { throw ValidationError("--width is 32, 42 or 48") }
        let r: Receipt = try await options.call(.GET, "/v1/transactions/\(id)/receipt?copy=\(copy)&width=\(width)")
        if !options.json { print(r.text, terminator: "") }
    }
}

struct Settle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Close the batch: deliver what is queued, reconcile the totals with the acquirer (upload when out of balance).",
        discussion: "Exit code 0 when the batch is closed in balance, 1 when it is still under way or out of balance.")
    @OptionGroup var options: ClientOptions
    @Flag(help: "List the last batches instead.") var list = false

    func run() async throws {
        let (currency, _) = try await options.currency()
        if list {
            let batches: [BatchView] = try await options.call(.GET, "/v1/batches")
            if options.json { return }
            if batches.isEmpty { print("no batch closed yet") }
            for b in batches { print(Render.batch(b, currency: currency)) }
            return
        }
        let b: BatchView = try await options.call(.POST, "/v1/batches")
        if !options.json { print(Render.batch(b, currency: currency)) }
        if b.state != "closed" { throw ExitCode(1) }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "The day's (or a batch's) figures by scheme and type.")
    @OptionGroup var options: ClientOptions
    @Option(help: "The business day, YYYY-MM-DD (default: today).") var day: String?
    @Option(help: "A batch number instead of a day.") var batch: Int?

    func run() async throws {
        var query: [String] = []
        if let day { query.append("day=\(day)") }
        if let batch { query.append("batch=\(batch)") }
        let r: Report = try await options.call(
            .GET, "/v1/reports" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
        if options.json { return }
        let period =
            r.batch.map { "batch \($0)" }
            ?? "\(r.from.map { APITimestamp.iso8601($0) } ?? "…") – \(r.to.map { APITimestamp.iso8601($0) } ?? "…")"
        print("Report, \(period)")
        func line(_ l: Report.Line) -> String {
            "\(l.scheme.padding(toLength: 11, withPad: " ", startingAt: 0)) \(l.type.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                + "\(l.count) txn, \(l.approved) approved \(Amount.text(l.approvedAmount, r.currency)), \(l.declined) declined, "
                + "\(l.failed) failed, \(l.reversed) reversed, \(l.voided) voided, \(l.cancelled) cancelled"
                + (l.offlineApprovals > 0
                    ? ", \(l.offlineApprovals) offline (\(l.advicesDelivered) advised, \(l.advicesOwed) owed)" : "")
        }
        for l in r.lines { print(line(l)) }
        print(line(r.total))
        if let s = r.successRate { print("success rate: \(String(format: "%.1f", s * 100)) %") }
        if let t = r.averageTapMilliseconds { print("average tap to outcome: \(String(format: "%.0f", t)) ms") }
        if let o = r.averageOnlineMilliseconds { print("average online time: \(String(format: "%.0f", o)) ms") }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream tapd's events (sales, UI messages, readers, link) until interrupted.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let json = options.json
        do {
            try await options.client.events { type, data in
                if json {
                    print(String(decoding: data, as: UTF8.self))
                    fflush(nil)
                    return true
                }
                guard let e = try? APIClient.decoder.decode(TapdEvent.self, from: data) else { return true }
                let fields = [
                    e.transactionID.map { "transaction_id=\($0)" }, e.status.map { "status=\($0)" },
                    e.message.map { "message=\($0)" }, e.reader.map { "reader=\($0)" }, e.detail.map { "detail=\($0)" },
                ].compactMap { $0 }
                print("\(APITimestamp.iso8601(e.at)) \(type) \(fields.joined(separator: " "))")
                fflush(nil)
                return true
            }
        } catch { throw failure("\(error)", exitCode: 4) }
    }
}
