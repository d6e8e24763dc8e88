// tapctl: the command-line tool for integrators and field technicians. Argument parsing and wiring only.
import ArgumentParser
import EMVKernel
import Foundation
import TLV
import TapdCore

@main
struct Tapctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tapctl",
        abstract: "Control and inspect tapd, the contactless payment terminal daemon.",
        version: TapdVersion.string,
        subcommands: [
            Status.self, Readers.self, Sale.self, Refund.self, Preauth.self, Complete.self, Diagnose.self,
            Cancel.self, Void_.self, History.self, Show.self, ReceiptCommand.self, Settle.self, ReportCommand.self,
            Events.self, Saf.self, RiskCommand.self, JournalCommand.self,
            TLVCommand.self, CAPKCommand.self, Replay.self, AcquirerSim.self,
        ])

    /// `tapctl --socket PATH sale 12.34` works as well as `tapctl sale 12.34 --socket PATH`: the argument parser only
    /// reads a subcommand's options after its name, so client options given before it are moved behind it.
    static func main() async {
        await main(hoistingLeadingOptions(Array(CommandLine.arguments.dropFirst())))
    }

    static func hoistingLeadingOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--socket", i + 1 < arguments.count {
                leading += [a, arguments[i + 1]]
                i += 2
            } else if a.hasPrefix("--socket=") || a == "--json" {
                leading.append(a)
                i += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty, i < arguments.count else { return arguments }
        var rest = Array(arguments[i...])
        rest.insert(contentsOf: leading, at: rest.firstIndex(of: "--") ?? rest.endIndex)
        return rest
    }
}

struct TLVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tlv", abstract: "Work with BER-TLV data.", subcommands: [Decode.self])

    struct Decode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode BER-TLV hex into a tree with EMV names and decoded values (card data masked).",
            discussion: """
                Reads HEX from the argument, or from standard input when it is "-". Spaces and colons are ignored.
                The kernel context (C-2 Mastercard, C-3 Visa) decides the meaning of tags the kernels share; it is
                guessed from an AID in the data when not given. Malformed data is decoded as far as possible and each
                fault is named with its offset; the exit code is then 1.
                """)

        @Argument(help: "The data in hex, or - for standard input.") var hex: String
        @Option(help: "Kernel context for shared tags: c2, c3, c4, c5, c6 or c7.") var kernel: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            var text = hex
            if hex == "-" { text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
            guard let bytes = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw ValidationError("not valid hex (an odd number of digits or a character other than 0-9, A-F)")
            }
            var context: KernelContext? = nil
            if let kernel {
                let name = kernel.lowercased().replacingOccurrences(of: "-", with: "")
                guard
                    let c = KernelContext.allCases.first(where: {
                        $0.rawValue.lowercased().replacingOccurrences(of: "-", with: "") == name
                    })
                else { throw ValidationError("--kernel takes c2, c3, c4, c5, c6 or c7") }
                context = c
            }
            let d = Describe.describe(bytes, context: context)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try enc.encode(d), as: UTF8.self))
            } else {
                print(Describe.render(d), terminator: "")
            }
            if !d.problems.isEmpty { throw ExitCode(1) }
        }
    }
}

struct CAPKCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capk", abstract: "Inspect CA public key files.", subcommands: [Verify.self, List.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a CA public key file: format, checksums, duplicates. Exit 0 when every key is sound.")
        @Argument(help: "Path of the key file.") var file: String
        @Flag(help: "Treat the file as test keys.") var test = false

        func run() async throws {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            var store = CAKeyStore()
            do {
                try store.load(text: text, source: file, isTest: test)
            } catch {
                print("FAIL \(error)")
                throw ExitCode(2)
            }
            let sm2 = store.sm2Keys.isEmpty ? "" : " (\(store.sm2Keys.count) SM2)"
            print("OK \(store.keys.count + store.sm2Keys.count) keys\(sm2), fingerprint \(store.fingerprint)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the bundled CA public keys.")
        @Flag(help: "Include the scheme test keys.") var test = false

        func run() async throws {
            let store = try CAKeyStore.bundled(includeTestKeys: test)
            var lines: [(String, String)] = store.keys.values.map { k in
                (
                    k.rid.hex + Hex.encode([k.index]),
                    "\(k.rid.hex) \(Hex.encode([k.index])) \(k.key.bits) bits exp \(k.key.exponent.hex) expiry \(k.expiry?.description ?? "-") \(k.label)"
                )
            }
            lines += store.sm2Keys.values.map { k in
                (
                    k.rid.hex + Hex.encode([k.index]),
                    "\(k.rid.hex) \(Hex.encode([k.index])) SM2 (256-bit curve point) expiry \(k.expiry?.description ?? "-") \(k.label)"
                )
            }
            for (_, line) in lines.sorted(by: { $0.0 < $1.0 }) { print(line) }
            print("fingerprint \(store.fingerprint)")
        }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run the real Entry Point and kernels against a recorded card conversation and print the result as JSON.",
        discussion: """
            FILE is a replay file: {"description", "terminal": {tag: value}, "capks": [{rid, index, exponent, modulus}],
            "exchanges": [{command, response | error}], "unmatched_response"}, a Proxmark3 trace (`trace save`, ISO 14443-4
            frames with CRC, read leniently), or a MohamedHassanNasr/emv mock transcript. For traces and transcripts the
            recorded terminal's data (TTQ, amount, date, UN, capabilities) come from its GPO and GENERATE AC commands and
            govern the decisions as they did for that terminal. The scripted card answers each command with the first
            unused exchange whose CLA INS P1 P2 match (for SELECT also the data); other commands get unmatched_response
            (6D00). The bundled production and test CA keys are available, plus those in the file. The result shows the
            outcome, ODA, cryptogram and the kernel's output objects (Outcome Parameter Set, UI Request Data, Error
            Indication, masked Data Record), each in hex beside its decoding. Exit code 0 when the transaction reached an
            outcome, 2 when the file cannot be read or is invalid.
            """)

    @Argument(help: "The replay file (JSON), or - for standard input.") var file: String

    func run() async throws {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("tapctl replay: cannot read \(file)\n".utf8))
                throw ExitCode(2)
            }
            data = d
        }
        let replay: ReplayFile
        do { replay = try ReplayFile.loadRecording(data, name: (file as NSString).lastPathComponent) } catch {
            FileHandle.standardError.write(Data("tapctl replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let result: ReplayResult
        do { result = try await ReplayRunner.run(replay) } catch {
            FileHandle.standardError.write(Data("tapctl replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        print(String(decoding: try enc.encode(result), as: UTF8.self))
    }
}
