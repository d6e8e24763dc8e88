// `tapctl journal`: backups a technician can trust when a terminal is replaced, and key rotation.
//   backup FILE   a consistent copy of the live journal (SQLite's online backup; safe while tapd runs), then verified
//   verify FILE   SQLite's integrity check, the key, every sealed row opens, sales agree with their follow-ups
//   rekey         re-seals the whole journal under a new key file, in one transaction (tapd stopped)
import ArgumentParser
import ControlAPI
import Foundation
import Journal
import TapdCore

struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Back up, verify or rekey tapd's journal.",
        subcommands: [Backup.self, Verify.self, Rekey.self])

    struct Where: ParsableArguments {
        @Option(help: "tapd's configuration file (for the journal's path and key).") var config = "/etc/tapd/tapd.toml"
        @Option(help: "The journal's key file (default: the configuration's journal.key_file).") var key: String?

        func settings() throws -> TapdConfiguration {
            do { return try TapdConfiguration.load(file: config) } catch { throw failure("\(error)", exitCode: 2) }
        }

        func journalKey(_ c: TapdConfiguration) throws -> JournalKey {
            let path = key ?? c.journal.resolvedKeyFile()
            do { return try JournalSettings.loadKey(path) } catch { throw failure("\(error)", exitCode: 2) }
        }
    }

    static func report(_ v: Journal.Verification, file: String) -> String {
        var lines = [
            "\(file): \(v.ok ? "OK" : "NOT OK")",
            "  SQLite integrity: \(v.integrity)",
            "  key: \(v.keyMatches ? "matches" : "does NOT match") (journal sealed with \(v.keyID ?? "unknown"))",
            "  sales: "
                + v.salesByState.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
            "  follow-ups: "
                + v.followUpsByStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
            "  sealed rows: \(v.sealedRows), all open: \(v.problems.contains { $0.contains("does not open") } ? "no" : "yes")",
        ]
        for p in v.problems.prefix(20) { lines.append("  problem: \(p)") }
        if v.problems.count > 20 { lines.append("  … \(v.problems.count - 20) more") }
        return lines.joined(separator: "\n")
    }

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a consistent copy of the journal to FILE (safe while tapd runs) and verify it.")
        @Argument(help: "The copy to write (must not exist; created with mode 0600).") var file: String
        @OptionGroup var place: Where

        func run() async throws {
            let c = try place.settings()
            do { try Journal.backup(journal: c.journal.path, to: file) } catch {
                throw failure("backup failed: \(error)", exitCode: 3)
            }
            let v: Journal.Verification
            do { v = try Journal.verify(path: file, key: try place.journalKey(c)) } catch let e as ExitCode {
                throw e
            } catch {
                throw failure("the copy cannot be read: \(error)", exitCode: 3)
            }
            print(JournalCommand.report(v, file: file))
            if !v.ok { throw ExitCode(1) }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a journal file (a backup or the live one): integrity, key, every sealed row, sales against follow-ups.",
            discussion: "Exit 0 when all is sound, 1 when something is wrong (each problem is listed).")
        @Argument(help: "The journal file to check.") var file: String
        @OptionGroup var place: Where

        func run() async throws {
            let c = try place.settings()
            let v: Journal.Verification
            do { v = try Journal.verify(path: file, key: try place.journalKey(c)) } catch let e as ExitCode {
                throw e
            } catch {
                throw failure("\(file) cannot be read: \(error)", exitCode: 3)
            }
            print(JournalCommand.report(v, file: file))
            if !v.ok { throw ExitCode(1) }
        }
    }

    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-seal the journal under a new key (tapd must be stopped); then install the new key file.",
            discussion: """
                Every stored request and queued message is opened with the current key and sealed with the new one in one
                transaction: the journal is entirely under one key or the other. Make the new key with
                `head -c 32 /dev/urandom > NEW && chmod 600 NEW`, run this, then put NEW where journal.key_file (or the
                systemd credential) points and start tapd.
                """)
        @Option(help: "The new key file (32 bytes or 64 hex digits, mode 0600).") var newKey: String
        @OptionGroup var place: Where

        func run() async throws {
            let c = try place.settings()
            if let r = try? await APIClient(socketPath: c.daemon.socket).get("/v1/health"), r.status < 500 {
                throw failure(
                    "tapd is running (\(c.daemon.socket) answers): stop it first (systemctl stop tapd)", exitCode: 2)
            }
            let old = try place.journalKey(c)
            let new: JournalKey
            do { new = try JournalSettings.loadKey(newKey) } catch { throw failure("\(error)", exitCode: 2) }
            guard new.id != old.id else { throw failure("the new key is the current key", exitCode: 2) }
            do {
                let journal = try Journal(path: c.journal.path, key: old)
                let n = try await journal.rekey(to: new)
                print("re-sealed \(n) row(s): the journal is now under key \(new.id) (was \(old.id)).")
                print(
                    "Now install \(newKey) as \(place.key ?? c.journal.resolvedKeyFile()) (mode 0600) and start tapd.")
            } catch {
                throw failure("rekey failed, nothing changed: \(error)", exitCode: 3)
            }
        }
    }
}
