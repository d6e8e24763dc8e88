// `tapd run` (the default): the daemon, from its configuration file.

import Acquirer
import ArgumentParser
import CProcess
import EMVKernel
import Foundation
import Journal
import Logging
import Readers
import TapdCore

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: readers, kernels, the acquirer link and the API socket (the default command).")

    @Option(help: "Configuration file.")
    var config = "/etc/tapd/tapd.toml"

    @Flag(help: "Check the configuration file and exit (0 when valid).")
    var checkConfig = false

    @Flag(
        help: """
            Exit 1 when the configuration file names no acquirer, 0 otherwise (the unit's start condition: a fresh \
            install waits for one; a file that does not parse is left for the start to report).
            """)
    var hasAcquirer = false

    func run() async throws {
        if hasAcquirer {
            guard let c = try? TapdConfiguration.load(file: config), c.acquirer == nil else { return }
            FileHandle.standardError.write(
                Data(
                    "tapd: \(config) names no acquirer yet: tapd waits for one ([acquirer] table; README, \"Installing on Debian\"), then systemctl start tapd\n"
                        .utf8))
            throw ExitCode(1)
        }
        // Everything is checked before anything is opened or touched.
        let c: TapdConfiguration
        do { c = try TapdConfiguration.load(file: config) } catch TapdError.configuration(let e) {
            FileHandle.standardError.write(Data("tapd: \(e)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let terminal: TerminalConfiguration
        let keys: CAKeyStore
        do { (terminal, keys) = try c.kernelSetup() } catch {
            FileHandle.standardError.write(Data("tapd: \(error)\n".utf8))
            throw ExitCode(78)
        }
        let keyFile = c.journal.resolvedKeyFile()
        let journalKey: JournalKey
        do { journalKey = try JournalSettings.loadKey(keyFile) } catch {
            FileHandle.standardError.write(Data("tapd: \(c.source): journal.key_file: \(error)\n".utf8))
            throw ExitCode(78)
        }
        if checkConfig {
            print("\(config): configuration is valid")
            return
        }
        Self.noCoreDumps()
        // A `systemctl reload` that comes before the signal handler is in place must not kill the daemon.
        signal(SIGHUP, SIG_IGN)

        var logger = Logger(label: "tapd") { StderrLogHandler(label: $0) }
        logger.logLevel = Logger.Level(rawValue: c.daemon.logLevel) ?? .info
        let journal: Journal
        do {
            try FileManager.default.createDirectory(
                atPath: (c.journal.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            journal = try Journal(path: c.journal.path, key: journalKey)
        } catch {
            logger.critical("cannot open the journal", metadata: ["path": "\(c.journal.path)", "error": "\(error)"])
            throw ExitCode(1)
        }
        let acquirer = try c.acquirer.map {
            AcquirerService(link: try AcquirerLink(configuration: $0), stan: { try await journal.nextSTAN() })
        }
        let readers = ReaderManager(configuration: c.readers)
        let runtime = DaemonRuntime(
            settings: c.daemon, journal: journal, acquirer: acquirer, readers: readers,
            terminal: terminal, keys: keys, logger: logger, cardDataRetentionDays: c.journal.cardDataRetentionDays,
            risk: c.risk, merchant: c.merchant)
        runtime.reloads(from: config, c)
        do { try await runtime.start() } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            await runtime.shutdown()
            throw ExitCode(1)
        }
        await runtime.runUntilSignalled()
    }

    /// No core dumps: a dump taken while a sale runs would hold card data and keys (PCI DSS 3.2). The unit sets
    /// LimitCORE=0 as well; this covers a daemon started by hand. Neither call can fail in a way that matters.
    static func noCoreDumps() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        _ = tapd_set_not_dumpable()
    }
}
