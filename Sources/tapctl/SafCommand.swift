// `tapctl saf`: the store-and-forward queue of a running tapd — reversals, advices and captures waiting for the
// acquirer, and those quarantined for an operator (refused too often, or a stored copy that does not open).
// `retry` puts a quarantined entry back; `resolve` closes one by hand with a reason. Both are audited with the
// caller's uid and pid.
import ArgumentParser
import ControlAPI
import Foundation

struct Saf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saf",
        abstract: "List, retry or resolve store-and-forward messages (reversals, advices, captures).",
        subcommands: [List.self, Retry.self, Resolve.self])

    static func render(_ f: [String: Any]) -> String {
        func s(_ k: String) -> String? { f[k].flatMap { $0 is NSNull ? nil : "\($0)" } }
        var line =
            "#\(s("id") ?? "?")  \(s("kind") ?? "?") \(s("mti") ?? "?")  \(s("status") ?? "?")  sale \(s("transaction_id") ?? "?")"
        var details = [
            "created \(s("created_at") ?? "-")", "tries \(s("tries") ?? "0")", "refused \(s("rejections") ?? "0")",
        ]
        if f["transmitted"] as? Bool == true { details.append("may have left (next send is a repeat)") }
        if let rc = s("response_code") { details.append("last answer \(rc)") }
        line += "\n  " + details.joined(separator: ", ")
        if let e = s("last_error") { line += "\n  last error: \(e)" }
        if let r = s("resolution") { line += "\n  resolution: \(r)" }
        return line
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the queue (oldest first).")
        @Option(help: "Only entries with this status: pending, delivered, quarantined, resolved, withdrawn.")
        var status: String?
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let r = try await options.call("GET", "/v1/saf" + (status.map { "?status=\($0)" } ?? ""))
            if options.json { return options.printJSON(r) }
            let list = r.json as? [[String: Any]] ?? []
            if list.isEmpty {
                print("no store-and-forward entries\(status.map { " with status \($0)" } ?? "")")
                return
            }
            for f in list { print(Saf.render(f)) }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a quarantined entry back in the queue and deliver it now.")
        @Argument(help: "The entry's id (from `tapctl saf list`).") var id: Int64
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let r = try await options.call("POST", "/v1/saf/\(id)/retry")
            if options.json { return options.printJSON(r) }
            print(Saf.render(r.json as? [String: Any] ?? [:]))
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close an entry by hand, e.g. a reversal the acquirer's help desk made; the reason is audited.")
        @Argument(help: "The entry's id (from `tapctl saf list`).") var id: Int64
        @Option(help: "What was done about it (a ticket, a name): kept in the journal's audit log.") var reason: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let r = try await options.call("POST", "/v1/saf/\(id)/resolve", body: ["reason": reason])
            if options.json { return options.printJSON(r) }
            print(Saf.render(r.json as? [String: Any] ?? [:]))
        }
    }
}
