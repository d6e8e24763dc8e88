// `tapctl risk`: the risk team's levers on a running tapd — what is frozen, freezing and unfreezing acceptance for
// the terminal, a scheme, an AID or one card, and replacing the exception file. A card's PAN is read from standard
// input (never from the command line, where ps and shell history would keep it) and sent to tapd over its socket;
// tapd keeps only a keyed hash and answers with the masked PAN. Every change is audited with the caller's uid and pid.
import ArgumentParser
import ControlAPI
import Foundation
import TapdCore

struct RiskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "risk",
        abstract: "Freeze or unfreeze acceptance, replace the exception file, see the risk alerts.",
        subcommands: [Status.self, Freeze.self, Unfreeze.self, Exceptions.self])

    static func renderFreeze(_ f: FreezeView) -> String {
        var line = "#\(f.id)  \(f.scope)\(f.value.map { " " + $0 } ?? "")  \(f.reason)"
        line += "\n  by \(f.createdBy) at \(APITimestamp.iso8601(f.createdAt))"
        line += f.endsAt.map { ", until \(APITimestamp.iso8601($0))" } ?? ", until lifted"
        if let l = f.liftedAt { line += "; lifted at \(APITimestamp.iso8601(l)) by \(f.liftedBy ?? "?")" }
        return line
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Freezes, the exception file and recent alerts.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let o: RiskStatus = try await options.call(.GET, "/v1/risk")
            if options.json { return }
            print(o.frozen.isEmpty ? "acceptance: open (nothing frozen)" : "acceptance: \(o.frozen.count) freeze(s)")
            for f in o.frozen { print(RiskCommand.renderFreeze(f)) }
            if let e = o.exceptionFile {
                print(
                    "exception file: \(e.entries) cards, sha256 \(e.sha256), loaded by \(e.loadedBy) at \(APITimestamp.iso8601(e.loadedAt))"
                )
            } else {
                print("exception file: none loaded")
            }
            print(o.recentAlerts.isEmpty ? "no recent risk alerts" : "recent alerts (newest first):")
            for a in o.recentAlerts.prefix(20) {
                print("  \(APITimestamp.iso8601(a.at))  \(a.kind)  \(a.message)")
            }
        }
    }

    struct Freeze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop acceptance at once for the terminal, a scheme, an AID or one card.")
        @Flag(help: "Freeze every sale on this terminal.") var terminal = false
        @Option(help: "Freeze a scheme: visa, mastercard, amex, jcb, discover, unionpay.") var scheme: String?
        @Option(help: "Freeze an AID, or every AID beginning with these bytes (hex, 5–16 bytes).") var aid: String?
        @Flag(help: "Freeze one card: its PAN is read from standard input (never give it on the command line).")
        var card = false
        @Option(help: "Why (kept in the audit log).") var reason: String
        @Option(help: "When the freeze ends by itself, ISO 8601 UTC (2026-12-07T06:00:00Z).") var until: String?
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let chosen = [terminal ? "terminal" : nil, scheme, aid, card ? "card" : nil].compactMap { $0 }
            guard chosen.count == 1 else {
                throw ValidationError("name exactly one of --terminal, --scheme, --aid, --card")
            }
            var body = FreezeRequest(scope: "terminal", reason: reason, until: until)
            if let scheme {
                body.scope = "scheme"
                body.value = scheme
            } else if let aid {
                body.scope = "aid"
                body.value = aid
            } else if card {
                if isatty(0) != 0 { FileHandle.standardError.write(Data("PAN of the card to freeze: ".utf8)) }
                let digits = (readLine(strippingNewline: true) ?? "").filter { $0.isASCII && $0.isNumber }
                guard (12...19).contains(digits.count) else { throw ValidationError("a PAN has 12–19 digits") }
                body.scope = "card"
                body.pan = digits
            }
            let f: FreezeView = try await options.call(.POST, "/v1/risk/freeze", body: body)
            if !options.json { print("frozen: " + RiskCommand.renderFreeze(f)) }
        }
    }

    struct Unfreeze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a freeze (its id from `tapctl risk status`).")
        @Argument(help: "The freeze's id.") var id: Int64
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let f: FreezeView = try await options.call(.DELETE, "/v1/risk/freeze/\(id)")
            if !options.json { print("lifted: " + RiskCommand.renderFreeze(f)) }
        }
    }

    struct Exceptions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exceptions", abstract: "The terminal exception file.", subcommands: [Load.self])

        struct Load: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Replace the exception file in force (salt line and salted PAN hashes) without a restart.")
            @Argument(help: "The exception file.") var file: String
            @OptionGroup var options: ClientOptions

            func run() async throws {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw ValidationError("cannot read \(file)")
                }
                let o: ExceptionFileView = try await options.call(.PUT, "/v1/risk/exception-file", raw: data)
                if !options.json { print("exception file in force: \(o.entries) cards, sha256 \(o.sha256)") }
            }
        }
    }
}
