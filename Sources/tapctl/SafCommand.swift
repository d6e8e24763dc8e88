// `tapctl saf`: the store-and-forward queue of a running tapd — reversals, advices and captures waiting for the
// acquirer, and those quarantined for an operator (refused too often, or a stored copy that does not open).
// `retry` puts a quarantined entry back; `resolve` closes one by hand with a reason. Both are audited with the
// caller's uid and pid.
import ArgumentParser
import ControlAPI
import Foundation
import TapdCore

struct Saf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saf",
        abstract: "List, retry or resolve store-and-forward messages (reversals, advices, captures).",
        subcommands: [List.self, Retry.self, Resolve.self])

    static func render(_ f: FollowUpView) -> String {
        var line = "#\(f.id)  \(f.kind) \(f.mti)  \(f.status)  sale \(f.transactionID)"
        var details = ["created \(APITimestamp.iso8601(f.createdAt))", "tries \(f.tries)", "refused \(f.rejections)"]
        if f.transmitted { details.append("may have left (next send is a repeat)") }
        if let rc = f.responseCode { details.append("last answer \(rc)") }
        line += "\n  " + details.joined(separator: ", ")
        if let e = f.lastError { line += "\n  last error: \(e)" }
        if let r = f.resolution { line += "\n  resolution: \(r)" }
        return line
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the queue (oldest first).")
        @Option(help: "Only entries with this status: pending, delivered, quarantined, resolved, withdrawn.")
        var status: String?
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let list: [FollowUpView] = try await options.call(
                .GET, "/v1/saf" + (status.map { "?status=\($0)" } ?? ""))
            if options.json { return }
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
            let f: FollowUpView = try await options.call(.POST, "/v1/saf/\(id)/retry")
            if !options.json { print(Saf.render(f)) }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close an entry by hand, e.g. a reversal the acquirer's help desk made; the reason is audited.")
        @Argument(help: "The entry's id (from `tapctl saf list`).") var id: Int64
        @Option(help: "What was done about it (a ticket, a name): kept in the journal's audit log.") var reason: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let f: FollowUpView = try await options.call(
                .POST, "/v1/saf/\(id)/resolve", body: ["reason": reason])
            if !options.json { print(Saf.render(f)) }
        }
    }
}
