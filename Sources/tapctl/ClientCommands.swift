// tapctl's commands that talk to a running tapd over its API socket: status, readers, sale, cancel, void, history,
// show, events. Readable output by default, the API's JSON with --json.
import ArgumentParser
import ControlAPI
import Foundation

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

    func call(_ method: String, _ path: String, body: [String: Any]? = nil, raw: Data? = nil) async throws
        -> APIResponse
    {
        let r: APIResponse
        do {
            switch method {
            case "GET": r = try await client.get(path)
            case "POST" where raw == nil: r = try await client.post(path, json: body)
            default: r = try await client.request(method, path, body: raw)
            }
        } catch {
            throw failure("\(error)", exitCode: 4)
        }
        if r.status >= 400 {
            FileHandle.standardError.write(Data("tapctl: \(r.errorMessage ?? "HTTP \(r.status)")\n".utf8))
            if json { print(String(decoding: r.body, as: UTF8.self)) }
            throw ExitCode(r.status >= 500 ? 3 : 2)
        }
        return r
    }

    /// One sale: the API's JSON with --json, else the readable form.
    func printTransaction(_ r: APIResponse) {
        if json { printJSON(r) } else { print(Render.transaction(r.json as? [String: Any] ?? [:])) }
    }

    func printJSON(_ r: APIResponse) {
        if let o = r.json,
            let d = try? JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
        {
            print(String(decoding: d, as: UTF8.self))
        } else {
            print(String(decoding: r.body, as: UTF8.self))
        }
    }
}

enum Render {
    static func money(_ minor: Any?, _ currency: Any?) -> String {
        guard let m = (minor as? NSNumber)?.int64Value else { return "-" }
        let sign = m < 0 ? "-" : ""
        let a = abs(m)
        return "\(sign)\(a / 100).\(String(format: "%02d", a % 100)) \(currency.map { "\($0)" } ?? "")"
    }

    static func transaction(_ t: [String: Any]) -> String {
        func s(_ k: String) -> String? { t[k].flatMap { $0 is NSNull ? nil : "\($0)" } }
        var lines = ["\(s("id") ?? "?")  \(money(t["amount"], t["currency"]))  \(s("status") ?? "?")"]
        var details: [String] = []
        if let p = s("masked_pan") { details.append("card \(p)") }
        if let k = s("scheme") { details.append(k) }
        if let c = s("cvm") { details.append("CVM \(c)") }
        if let r = s("response_code") { details.append("response \(r)") }
        if let a = s("approval_code") { details.append("approval \(a)") }
        if let st = s("stan") { details.append("STAN \(st)") }
        if let rd = s("reader") { details.append("reader \(rd)") }
        if !details.isEmpty { lines.append("  " + details.joined(separator: ", ")) }
        if let reason = s("reason") { lines.append("  \(reason)") }
        if t["approved_amount"] != nil, !(t["approved_amount"] is NSNull) {
            lines.append(
                "  approved: \(money(t["approved_amount"], t["currency"])) of \(money(t["amount"], t["currency"]))")
        }
        for f in (t["follow_ups"] as? [[String: Any]]) ?? [] {
            lines.append(
                "  \(f["kind"] ?? "?") \(f["mti"] ?? "?") #\(f["id"] ?? "?"): \(f["status"] ?? "?")"
                    + ((f["last_error"] as? String).map { " (\($0))" } ?? ""))
        }
        if let j = s("journal_state") { lines.append("  journal: \(j), created \(s("created_at") ?? "-")") }
        return lines.joined(separator: "\n")
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show tapd's state: readers, acquirer link, store-and-forward, last sale.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let r = try await options.call("GET", "/v1/status")
        if options.json {
            options.printJSON(r)
            return
        }
        guard let s = r.json as? [String: Any] else { throw failure("unexpected answer from tapd", exitCode: 3) }
        let up = (s["uptime_seconds"] as? NSNumber)?.doubleValue ?? 0
        print(
            "tapd \(s["version"] ?? "?") — \(s["state"] ?? "?"), up \(Int(up) / 3600)h\(Int(up) % 3600 / 60)m\(Int(up) % 60)s, \(s["active_transactions"] ?? 0) sale(s) running"
        )
        let readers = s["readers"] as? [[String: Any]] ?? []
        print("Readers: \(readers.isEmpty ? "none attached" : "")")
        for rd in readers {
            print(
                "  \(rd["name"] ?? "?") [\(rd["backend"] ?? "?")] \(rd["state"] ?? "?")\((rd["last_error"] as? String).map { " — \($0)" } ?? "")"
            )
        }
        if let a = s["acquirer"] as? [String: Any] {
            if a["configured"] as? Bool == true {
                print(
                    "Acquirer: \(a["host"] ?? "?"):\(a["port"] ?? "?") \(a["connected"] as? Bool == true ? "connected" : "not connected")\((a["last_error"] as? String).map { " — last error: \($0)" } ?? "")"
                )
            } else {
                print("Acquirer: not configured")
            }
        }
        print("Store-and-forward: \(s["saf_depth"] ?? "?") pending, \(s["saf_quarantined"] ?? "?") quarantined")
        if let last = s["last_transaction"] as? [String: Any] {
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
        let r = try await options.call("GET", "/v1/readers")
        if options.json {
            options.printJSON(r)
            return
        }
        let list = r.json as? [[String: Any]] ?? []
        if list.isEmpty { print("no reader attached (tapctl diagnose tells why)") }
        for rd in list {
            print(
                "\(rd["name"] ?? "?")  [\(rd["backend"] ?? "?")]  \(rd["state"] ?? "?")\((rd["model"] as? String).map { "  \($0)" } ?? "")\((rd["last_error"] as? String).map { "  last error: \($0)" } ?? "")"
            )
        }
    }
}

struct Sale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a sale: AMOUNT in major units (12.34).",
        discussion:
            "With --wait, follows the sale live (present card → processing → result); the exit code is 0 when approved, 1 otherwise."
    )
    @OptionGroup var options: ClientOptions
    @Argument(help: "Amount, e.g. 12.34") var amount: String
    @Option(help: "ISO 4217 currency (EUR or 978); the terminal's when left out.") var currency: String?
    @Option(help: "Reader name (or prefix); the preferred or first idle reader when left out.") var reader: String?
    @Option(help: "Idempotency key: the same key never starts a second sale (default: a new UUID).") var idempotencyKey:
        String?
    @Flag(help: "Wait for the result, showing progress.") var wait = false

    /// "12.34" → 1234, "12" → 1200, "0.5" → 50; more than two decimals, signs or other characters are refused.
    static func minorUnits(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].allSatisfy(\.isNumber), parts[0].count <= 10
        else { return nil }
        var minor = Int64(parts[0])! * 100
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), parts[1].allSatisfy(\.isNumber) else { return nil }
            minor += Int64(parts[1].count == 1 ? String(parts[1]) + "0" : String(parts[1]))!
        }
        return minor > 0 ? minor : nil
    }

    func run() async throws {
        guard let minor = Self.minorUnits(amount) else {
            throw ValidationError("amount must be like 12.34 (more than zero, at most two decimals)")
        }
        var body: [String: Any] = [
            "type": "sale", "amount": minor, "idempotency_key": idempotencyKey ?? UUID().uuidString.lowercased(),
        ]
        if let currency { body["currency"] = currency }
        if let reader { body["reader"] = reader }
        let r = try await options.call("POST", "/v1/transactions", body: body)
        guard let t = r.json as? [String: Any], let id = t["id"] as? String else {
            throw failure("unexpected answer from tapd", exitCode: 3)
        }
        if !wait {
            options.printTransaction(r)
            return
        }
        if !options.json {
            print(
                "sale \(id): \(Render.money(minor, t["currency"]))\(r.status == 200 ? " (already started with this idempotency key)" : "")"
            )
        }
        let quiet = options.json
        // Follow the sale's events (the recent ones are replayed, so nothing between the POST and now is missed).
        final class Seen: @unchecked Sendable { var last = "" }
        let seen = Seen()
        if t["final"] as? Bool != true {
            try await options.client.events(replay: 64) { type, data in
                guard let e = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    e["transaction_id"] as? String == id
                else { return true }
                if type == "ui", let m = e["message"] as? String, m != seen.last {
                    seen.last = m
                    if !quiet { print("  [\(m)]") }
                }
                if type == "transaction", let status = e["status"] as? String {
                    if !quiet { print("  \(status)") }
                    if ["approved", "declined", "failed", "cancelled", "timed_out", "voided"].contains(status) {
                        return false
                    }
                }
                return true
            }
        }
        let final = try await options.call("GET", "/v1/transactions/\(id)")
        options.printTransaction(final)
        if (final.json as? [String: Any])?["status"] as? String != "approved" { throw ExitCode(1) }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a sale that has not gone online yet.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String

    func run() async throws {
        let r = try await options.call("POST", "/v1/transactions/\(id)/cancel")
        options.printTransaction(r)
    }
}

struct Void_: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "void", abstract: "Void (reverse) an approved sale.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String

    func run() async throws {
        let r = try await options.call("POST", "/v1/transactions/\(id)/void")
        options.printTransaction(r)
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent sales, newest first.")
    @OptionGroup var options: ClientOptions
    @Option(help: "How many (1–200).") var limit = 20
    @Option(help: "Continue after this transaction id (the last one of the previous page).") var after: String?

    func run() async throws {
        let r = try await options.call("GET", "/v1/transactions?limit=\(limit)" + (after.map { "&after=\($0)" } ?? ""))
        if options.json {
            options.printJSON(r)
            return
        }
        let list = r.json as? [[String: Any]] ?? []
        if list.isEmpty { print("no sales yet") }
        for t in list { print(Render.transaction(t)) }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one sale.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Transaction id.") var id: String

    func run() async throws {
        let r = try await options.call("GET", "/v1/transactions/\(id)")
        options.printTransaction(r)
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
                let e = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
                let fields = ["transaction_id", "status", "message", "reader", "detail"].compactMap { k in
                    e[k].map { "\(k)=\($0)" }
                }
                print("\(e["at"] ?? "") \(type) \(fields.joined(separator: " "))")
                fflush(nil)
                return true
            }
        } catch { throw failure("\(error)", exitCode: 4) }
    }
}
