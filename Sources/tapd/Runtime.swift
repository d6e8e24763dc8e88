// The running daemon: journal, acquirer link, readers, coordinator and API wired together, with the background work
// a terminal needs (recovery on start, store-and-forward delivery, echo keep-alive, card-data purge, link and reader
// events), systemd readiness and watchdog, and an orderly shutdown. `tapd run` and `tapd demo` both use it.

import Acquirer
import ControlAPI
import EMVKernel
import Foundation
import Journal
import Logging
import Readers
import TapdCore

struct APIBindError: Error, CustomStringConvertible {
    let socket: String
    var description: String { "cannot listen on \(socket) (does its directory exist and may tapd write there?)" }
}

final class DaemonRuntime: @unchecked Sendable {
    let settings: DaemonSettings
    let journal: Journal
    let acquirer: AcquirerService?
    let readers: any CardReaderPool
    let book: SaleBook
    let coordinator: TransactionCoordinator
    let events = EventHub()
    let metrics = TapdMetrics()
    let api: APIServer
    let logger: Logger
    let notifier = SystemdNotifier()
    private let lock = NSLock()
    private var stopping = false
    private var tasks: [Task<Void, Never>] = []
    private var apiTask: Task<Void, any Error>?

    let cardDataRetention: TimeInterval
    let riskSettings: RiskSettings
    /// The configuration file and what was read from it (for `systemctl reload`); nil in the demo.
    private var source: (file: String, configuration: TapdConfiguration)?

    /// Names the configuration file SIGHUP re-reads, and the configuration read from it at start.
    func reloads(from file: String, _ configuration: TapdConfiguration) {
        lock.withLock { source = (file, configuration) }
    }

    init(
        settings: DaemonSettings, journal: Journal, acquirer: AcquirerService?, readers: any CardReaderPool,
        terminal: TerminalConfiguration, keys: CAKeyStore, logger: Logger, cardDataRetentionDays: Double = 7,
        risk: RiskSettings = RiskSettings(), merchant: MerchantSettings = MerchantSettings()
    ) {
        self.riskSettings = risk
        self.cardDataRetention = cardDataRetentionDays * 86_400
        self.settings = settings
        self.journal = journal
        self.acquirer = acquirer
        self.readers = readers
        self.logger = logger
        book = SaleBook(
            journal: journal, acquirer: acquirer, events: events, metrics: metrics,
            voidWindow: VoidWindow(settings.voidWindow) ?? .sameDay, logger: logger)
        let controls = RiskControls(
            journal: journal, events: events, metrics: metrics,
            manager: RiskManager(maxTapsPerHour: terminal.velocityMaxTapsPerHour), rules: risk,
            logger: Logger(label: "tapd.risk"))
        coordinator = TransactionCoordinator(
            readers: readers, book: book, terminal: terminal, keys: keys,
            events: events, metrics: metrics, settings: settings, risk: controls, merchant: merchant)
        let box = StopFlag()
        api = APIServer(
            socketPath: settings.socket, coordinator: coordinator,
            events: events, metrics: metrics, shuttingDown: { box.value })
        stopFlag = box
    }

    private let stopFlag: StopFlag
    final class StopFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var v = false
        var value: Bool {
            get { lock.withLock { v } }
            set { lock.withLock { v = newValue } }
        }
    }

    /// Opens the API socket and starts the background work; returns once the socket accepts connections.
    func start() async throws {
        // Money first: anything that may have reached the acquirer without an answer before a crash is reversed.
        let n = try await book.recover()
        if n > 0 { logger.warning("recovered interrupted transactions", metadata: ["count": "\(n)"]) }
        // The risk team's freezes and exception file stand across restarts; a configured file replaces the stored one.
        try await coordinator.risk.load()
        if let path = riskSettings.exceptionFile {
            try await coordinator.risk.loadConfigured(try String(contentsOfFile: path, encoding: .utf8), path: path)
        }
        if let acquirer {
            background { [book] in _ = await book.deliverQueue() }
            background { [book] in await acquirer.keepAlive { _ = await book.deliverQueue() } }
            // The queue's next due entry is tried at least this often (backoff decides whether it is due).
            let interval = min(acquirer.configuration.safRetryInterval, 5)
            // A batch close interrupted (a crash, no answer) is finished: at start, then once a minute.
            background { [book] in
                while !Task.isCancelled {
                    await book.resumeBatchClose()
                    try? await Task.sleep(for: .seconds(60))
                }
            }
            background { [book] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int64(max(0.2, interval) * 1000)))
                    // A sale whose answer could not be written (disk full) is settled as a restart would settle it.
                    _ = await book.settleStranded()
                    await book.checkpointSoon()  // retries during an outage write too
                    _ = await book.deliverQueue()
                }
            }
            // Pre-authorisations left open past `[daemon] preauth_expiry` are released (their reversals queued).
            background { [coordinator] in
                while !Task.isCancelled {
                    await coordinator.expirePreauthorisations()
                    try? await Task.sleep(for: .seconds(60))
                }
            }
            background { [events, logger] in
                var up: Bool? = nil
                while !Task.isCancelled {
                    let now = await acquirer.link.isConnected
                    if now != up {
                        if up != nil {
                            events.publish(now ? .linkUp : .linkDown, detail: await acquirer.link.lastError)
                        }
                        logger.info(now ? "acquirer link up" : "acquirer link down")
                        up = now
                    }
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        } else {
            logger.warning("no [acquirer] configured: online sales will fail")
        }
        background { [journal, cardDataRetention] in
            while !Task.isCancelled {
                _ = try? await journal.purgeCardData(olderThan: cardDataRetention)
                try? await Task.sleep(for: .seconds(3600))
            }
        }
        if let manager = readers as? ReaderManager {
            await manager.start()
            background { [events, logger, metrics] in
                for await e in manager.events {
                    switch e {
                    case .attached(let r, let b):
                        events.publish(.readerAttached, reader: r, detail: b.rawValue)
                        logger.info("reader attached", metadata: ["reader": "\(r)", "backend": "\(b.rawValue)"])
                    case .detached(let r):
                        events.publish(.readerDetached, reader: r)
                        logger.info("reader detached", metadata: ["reader": "\(r)"])
                    case .cardPresent(let r): events.publish(.cardPresent, reader: r)
                    case .cardRemoved(let r): events.publish(.cardRemoved, reader: r)
                    case .error(let r, let why):
                        events.publish(.readerError, reader: r, detail: why)
                        metrics.readerError(r)
                        logger.warning("reader error", metadata: ["reader": "\(r)", "error": "\(why)"])
                    case .usbArrived(let r): logger.info("USB reader plugged in", metadata: ["reader": "\(r)"])
                    case .usbLeft(let r): logger.info("USB reader pulled out", metadata: ["reader": "\(r)"])
                    }
                }
            }
        }
        background { [events, logger] in
            for await e in events.subscribe() where e.type == .transaction {
                var meta: Logger.Metadata = ["id": "\(e.transactionID ?? "-")", "status": "\(e.status ?? "-")"]
                if let d = e.detail { meta["detail"] = "\(d)" }
                logger.info("transaction", metadata: meta)
            }
        }

        // The API socket; readiness once it is bound.
        let dir = (settings.socket as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let ready = AsyncStream.makeStream(of: Bool.self)
        let socket = settings.socket
        let group = settings.socketGroup
        let log = logger
        final class Bound: @unchecked Sendable {
            let lock = NSLock()
            var value = false
        }
        let apiBound = Bound()
        if let address = settings.metricsAddress, let (host, port) = DaemonSettings.hostAndPort(address) {
            background { [api, log] in
                do {
                    try await api.runMetrics(host: host, port: port) {
                        log.notice("metrics served over TCP", metadata: ["address": "\(address)", "path": "/metrics"])
                    }
                } catch  where !Task.isCancelled {
                    log.error(
                        "the metrics listener cannot be opened; metrics stay on the API socket",
                        metadata: ["address": "\(address)", "error": "\(error)"])
                } catch {}
            }
        }
        apiTask = Task { [api] in
            do {
                try await api.run {
                    apiBound.lock.withLock { apiBound.value = true }
                    // Mode 0660 and group tapd: the point of sale runs as a member of that group.
                    chmod(socket, 0o660)
                    if let g = getgrnam(group) {
                        chown(socket, UInt32.max, g.pointee.gr_gid)
                    } else {
                        log.notice("group \(group) does not exist; the socket keeps its group")
                    }
                    ready.continuation.yield(true)
                    ready.continuation.finish()
                }
            } catch {
                // Could not bind (no such directory, permissions, another tapd): say so instead of waiting forever.
                let wasBound = apiBound.lock.withLock { apiBound.value }
                log.critical(
                    wasBound ? "the API server failed" : "the API socket cannot be opened",
                    metadata: ["socket": "\(socket)", "error": "\(error)"])
                ready.continuation.yield(false)
                ready.continuation.finish()
                throw error
            }
        }
        var bound = false
        for await ok in ready.stream {
            bound = ok
            break
        }
        guard bound else { throw APIBindError(socket: settings.socket) }
        notifier.notify("READY=1\nSTATUS=ready: API on \(settings.socket)")
        if let w = notifier.watchdogInterval {
            background { [notifier] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: w / 2)
                    notifier.notify("WATCHDOG=1")
                }
            }
        }
        logger.info("tapd ready", metadata: ["socket": "\(settings.socket)", "version": "\(TapdVersion.string)"])
    }

    private func background(_ work: @escaping @Sendable () async -> Void) {
        lock.withLock { tasks.append(Task { await work() }) }
    }

    /// Waits for SIGTERM or SIGINT, then shuts down.
    func runUntilSignalled() async {
        let signals = AsyncStream.makeStream(of: Int32.self)
        var sources: [any DispatchSourceSignal] = []
        for s in [SIGTERM, SIGINT, SIGHUP] {
            signal(s, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler { signals.continuation.yield(s) }
            src.resume()
            sources.append(src)
        }
        var received: Int32 = 0
        for await s in signals.stream {
            if s == SIGHUP {
                _ = await reload()
                continue
            }
            received = s
            break
        }
        logger.notice(
            "signal received, shutting down", metadata: ["signal": "\(received == SIGTERM ? "SIGTERM" : "SIGINT")"])
        await shutdown()
        for s in sources { s.cancel() }
    }

    /// `systemctl reload` (SIGHUP): the configuration file, the terminal configuration, the CA keys and the exception
    /// file are all read and checked first; only then are they swapped in for the next sale (a sale in flight
    /// finishes with what it started with). A file that does not check is refused with one log line and nothing
    /// changes. Settings that only a restart applies (socket, journal, readers, acquirer link) are named.
    @discardableResult
    func reload() async -> Bool {
        guard let (file, old) = lock.withLock({ source }) else {
            logger.notice("SIGHUP ignored: this daemon was not started from a configuration file")
            return false
        }
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())\nSTATUS=reloading \(file)")
        defer { notifier.notify("READY=1\nSTATUS=serving") }
        let c: TapdConfiguration
        let terminal: TerminalConfiguration
        let keys: CAKeyStore
        var exceptionText: String? = nil
        do {
            c = try TapdConfiguration.load(file: file)
            (terminal, keys) = try c.kernelSetup()
            if let path = c.risk.exceptionFile {
                let text: String
                do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                    throw TapdError.badConfiguration(
                        file: path, line: nil, key: "risk.exception_file", message: "cannot be read")
                }
                do { _ = try ExceptionFile(text: text) } catch {
                    throw TapdError.badConfiguration(
                        file: path, line: nil, key: "risk.exception_file", message: "\(error)")
                }
                exceptionText = text
            }
        } catch {
            logger.error(
                "reload refused; the running configuration stays", metadata: ["file": "\(file)", "error": "\(error)"])
            return false
        }
        var restartOnly: [String] = []
        if c.daemon.socket != old.daemon.socket { restartOnly.append("daemon.socket") }
        if c.daemon.socketGroup != old.daemon.socketGroup { restartOnly.append("daemon.socket_group") }
        if c.daemon.logLevel != old.daemon.logLevel { restartOnly.append("daemon.log_level") }
        if c.daemon.voidWindow != old.daemon.voidWindow { restartOnly.append("daemon.void_window") }
        if c.daemon.shutdownGrace != old.daemon.shutdownGrace { restartOnly.append("daemon.shutdown_grace") }
        if c.daemon.metricsAddress != old.daemon.metricsAddress { restartOnly.append("daemon.metrics_address") }
        if c.journal != old.journal { restartOnly.append("[journal]") }
        if c.readers != old.readers { restartOnly.append("[readers]") }
        if c.acquirer != old.acquirer { restartOnly.append("[acquirer]") }
        var applied = c.daemon
        // What the running daemon keeps until a restart stays as it is in the settings new sales see.
        applied.socket = old.daemon.socket
        applied.socketGroup = old.daemon.socketGroup
        await coordinator.reconfigure(terminal: terminal, keys: keys, settings: applied, merchant: c.merchant)
        await coordinator.risk.update(rules: c.risk)
        if let exceptionText {
            do {
                if let path = c.risk.exceptionFile {
                    try await coordinator.risk.loadConfigured(exceptionText, path: path)
                }
            } catch {
                logger.error("reload: the exception file could not be stored", metadata: ["error": "\(error)"])
            }
        }
        var kept = c
        for key in restartOnly {
            switch key {
            case "[journal]": kept.journal = old.journal
            case "[readers]": kept.readers = old.readers
            case "[acquirer]": kept.acquirer = old.acquirer
            default: break
            }
        }
        kept.daemon.socket = old.daemon.socket
        kept.daemon.socketGroup = old.daemon.socketGroup
        kept.daemon.logLevel = old.daemon.logLevel
        kept.daemon.voidWindow = old.daemon.voidWindow
        kept.daemon.shutdownGrace = old.daemon.shutdownGrace
        kept.daemon.metricsAddress = old.daemon.metricsAddress
        lock.withLock { source = (file, kept) }
        if restartOnly.isEmpty {
            logger.notice("configuration reloaded", metadata: ["file": "\(file)"])
        } else {
            logger.warning(
                "configuration reloaded; these changes take effect after a restart (systemctl restart tapd)",
                metadata: ["file": "\(file)", "restart": "\(restartOnly.joined(separator: ", "))"])
        }
        return true
    }

    static func monotonicMicroseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000 + UInt64(t.tv_nsec) / 1000
    }

    /// No new sales; waiting ones are cancelled, one that is online gets `shutdown_grace` to finish; then everything
    /// stops. Money is never left in an unknown state: an unanswered request is in the journal and is reversed.
    func shutdown() async {
        guard
            lock.withLock({
                let was = stopping
                stopping = true
                return !was
            })
        else { return }
        stopFlag.value = true
        notifier.notify("STOPPING=1\nSTATUS=finishing the running transaction")
        await coordinator.shutdown(grace: .milliseconds(Int64(settings.shutdownGrace * 1000)))
        apiTask?.cancel()
        _ = try? await apiTask?.value
        unlink(settings.socket)
        let all = lock.withLock { tasks }
        for t in all { t.cancel() }
        if let manager = readers as? ReaderManager { await manager.stop() }
        if let acquirer { await acquirer.link.close() }
        events.finish()
        logger.notice("tapd stopped")
    }
}
