// One owner for every reader tapd uses: the PC/SC readers pcscd reports (followed by PCSCMonitor, no polling) and
// the libnfc devices named in the configuration (opened, re-opened with backoff when they come and go). A
// transaction leases one reader exclusively; the lease waits for a card, hands the kernel its CardChannel, shows the
// EMV Book A user-interface signals on readers that have LEDs and a buzzer, and waits for the card to leave.

import APDU
import Foundation

/// The software stack that drives a reader: pcscd (PC/SC), libnfc directly, or the demo's virtual reader.
public enum ReaderBackend: String, Sendable, Codable {
    case pcsc, libnfc
    /// The demo's in-process virtual reader (no hardware, no pcscd).
    case virtual
}

/// Which readers ReaderManager uses and how; every key is optional when decoded.
public struct ReaderManagerConfiguration: Sendable, Codable, Equatable {
    /// Use the readers pcscd offers.
    public var pcsc: Bool = true
    /// Connect to PC/SC cards exclusively for the length of a transaction (no other process can interleave APDUs).
    public var exclusive: Bool = true
    /// libnfc connstrings tapd drives itself, e.g. "pn532_uart:/dev/ttyUSB0".
    public var libnfc: [String] = []
    /// Reader used when a sale names none (exact name or prefix); otherwise the first idle one.
    public var preferred: String? = nil
    /// Readers never used (substring of the name): contact slots, SAM slots.
    public var ignore: [String] = []
    /// LEDs and buzzer on readers that have them.
    public var signals: Bool = true
    /// Use virtual PC/SC readers (the vsmartcard vpcd driver, "Virtual PCD …"): a lab or demo only. Off by default,
    /// because vpcd listens on the network and lets anyone "insert a card".
    public var virtualReaders: Bool = false

    /// Creates a configuration; each parameter sets the property of the same name.
    public init(
        pcsc: Bool = true, exclusive: Bool = true, libnfc: [String] = [], preferred: String? = nil,
        ignore: [String] = [], signals: Bool = true, virtualReaders: Bool = false
    ) {
        self.pcsc = pcsc
        self.exclusive = exclusive
        self.libnfc = libnfc
        self.preferred = preferred
        self.ignore = ignore
        self.signals = signals
        self.virtualReaders = virtualReaders
    }

    /// A reader of the vpcd test driver.
    public static func isVirtual(_ name: String) -> Bool { name.hasPrefix("Virtual PCD") }

    enum CodingKeys: String, CodingKey { case pcsc, exclusive, libnfc, preferred, ignore, signals, virtualReaders }
    /// Decodes the configuration, defaulting absent keys; throws DecodingError when a libnfc entry is not a connstring
    /// (driver:port, or usb, acr122_usb or pn53x_usb alone).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pcsc = try c.decodeIfPresent(Bool.self, forKey: .pcsc) ?? true
        exclusive = try c.decodeIfPresent(Bool.self, forKey: .exclusive) ?? true
        libnfc = try c.decodeIfPresent([String].self, forKey: .libnfc) ?? []
        preferred = try c.decodeIfPresent(String.self, forKey: .preferred)
        ignore = try c.decodeIfPresent([String].self, forKey: .ignore) ?? []
        signals = try c.decodeIfPresent(Bool.self, forKey: .signals) ?? true
        virtualReaders = try c.decodeIfPresent(Bool.self, forKey: .virtualReaders) ?? false
        // "driver:port" (pn532_uart:/dev/ttyUSB0, pn53x_usb:001:004), or a USB driver alone (its first device).
        for s in libnfc where !s.contains(":") && !["usb", "acr122_usb", "pn53x_usb"].contains(s) {
            throw DecodingError.dataCorruptedError(
                forKey: .libnfc, in: c,
                debugDescription: "\"\(s)\" is not a libnfc connstring (driver:port, e.g. pn532_uart:/dev/ttyUSB0)")
        }
    }
}

/// Reader, card, USB hot-plug and error events from ReaderManager; a reader is named by its PC/SC name or libnfc
/// connstring, a USB device by its model and USB id.
public enum ReaderManagerEvent: Sendable, Equatable {
    case attached(String, ReaderBackend)
    case detached(String)
    case cardPresent(String)
    case cardRemoved(String)
    /// A reader or its stack failed; the text says why (pcscd stopped, device unplugged, …).
    case error(String, String)
    /// A known reader was plugged into or pulled out of a USB port (libusb hot-plug), before any stack claims it.
    case usbArrived(String)
    case usbLeft(String)
}

/// What a reader is doing, as shown in its snapshot.
public enum ReaderActivity: String, Sendable, Codable {
    case idle
    case cardPresent = "card_present"
    case inUse = "in_use"
    case error
}

/// A reader's status at one moment, for status reports.
public struct ReaderSnapshot: Sendable, Codable, Equatable {
    /// The reader's name: its PC/SC name or libnfc connstring for real readers.
    public let name: String
    /// The stack that drives the reader.
    public let backend: ReaderBackend
    /// What the reader is doing (in_use while leased).
    public let state: ReaderActivity
    /// The most recent failure a lease reported for the reader; nil when none has.
    public let lastError: String?
    /// The reader model recognised from its name (e.g. ACR122U), or nil.
    public let model: String?

    enum CodingKeys: String, CodingKey {
        case name, backend, state
        case lastError = "last_error"
        case model
    }

    /// Creates a snapshot from its fields.
    public init(
        name: String, backend: ReaderBackend, state: ReaderActivity, lastError: String? = nil, model: String? = nil
    ) {
        self.name = name
        self.backend = backend
        self.state = state
        self.lastError = lastError
        self.model = model
    }
}

/// Why ReaderManager.acquire could not lease a reader.
public enum ReaderManagerError: Error, Equatable, Sendable, CustomStringConvertible {
    case noReader
    case unknownReader(String)
    case busy(String)
    /// The reason in words, for logs.
    public var description: String {
        switch self {
        case .noReader: "no reader is attached"
        case .unknownReader(let r): "no reader named \(r)"
        case .busy(let r): "reader \(r) is in use by another transaction"
        }
    }
}

/// EMV Contactless Book A §9 (User Interface): the reader statuses and outcome indications tapd shows on readers with
/// LEDs and a buzzer (success tone for approval, alert tone for decline and errors, Book A §9.3).
public enum UISignal: String, Sendable, Codable {
    case idle
    case presentCard = "present_card"
    case processing
    case cardRead = "card_read"
    case approved, declined
    case removeCard = "remove_card"
    case error
}

/// Owns every reader tapd uses, PC/SC and libnfc, follows them as they come and go, and leases one per transaction.
public actor ReaderManager {
    struct Managed {
        let backend: ReaderBackend
        var state: ReaderActivity
        var lastError: String?
        var leased = false
        var nfc: NFCReader?
    }

    /// The configuration the manager was created with.
    public let configuration: ReaderManagerConfiguration
    /// Reader, card, USB and error events; finishes after stop() (the newest 4,096 are kept if nobody reads).
    public nonisolated let events: AsyncStream<ReaderManagerEvent>
    private let continuation: AsyncStream<ReaderManagerEvent>.Continuation
    private var readers: [String: Managed] = [:]
    private var order: [String] = []
    private var tasks: [Task<Void, Never>] = []
    private var monitor: PCSCMonitor?
    private var hotplug: USBHotplug?
    private var stopped = false
    private var pcscUp = false
    private let nfcContext: NFCContext?
    /// How often an idle libnfc serial reader's device node is checked (an unplugged USB-UART adapter).
    let libnfcCheckInterval: Duration
    let libnfcBackoff: (initial: Duration, maximum: Duration)

    /// Creates the manager; no reader is opened until start(). `libnfcBackoff` is the initial and maximum delay between
    /// attempts to re-open a libnfc device.
    public init(
        configuration: ReaderManagerConfiguration, libnfcCheckInterval: Duration = .seconds(2),
        libnfcBackoff: (Duration, Duration) = (.milliseconds(500), .seconds(30))
    ) {
        self.configuration = configuration
        (events, continuation) = AsyncStream.makeStream(
            of: ReaderManagerEvent.self, bufferingPolicy: .bufferingNewest(4096))
        nfcContext = configuration.libnfc.isEmpty ? nil : try? NFCContext.shared()
        self.libnfcCheckInterval = libnfcCheckInterval
        self.libnfcBackoff = libnfcBackoff
    }

    /// Starts following pcscd, opening the configured libnfc devices and watching USB hot-plug; does nothing once
    /// started or stopped.
    public func start() {
        guard tasks.isEmpty, !stopped else { return }
        if configuration.pcsc {
            let m = PCSCMonitor()
            monitor = m
            tasks.append(Task { await m.run() })
            tasks.append(Task { for await e in m.events { self.handle(e) } })
        }
        for connstring in configuration.libnfc {
            tasks.append(Task { await self.superviseLibNFC(connstring) })
        }
        if let usb = try? USBHotplug() {
            hotplug = usb
            tasks.append(Task { for await e in usb.events { await self.handle(usb: e) } })
        }
    }

    /// A reader plugged in that no configured stack can use, or that the kernel's NFC driver grabbed, is reported
    /// with its fix straight away rather than left for a technician to discover.
    private func handle(usb e: USBHotplug.Event) async {
        switch e {
        case .left(let v, let p, _, _, let name):
            continuation.yield(.usbLeft("\(name) (" + String(format: "%04x:%04x", v, p) + ")"))
        case .arrived(let v, let p, let bus, let address, let name):
            continuation.yield(.usbArrived("\(name) (" + String(format: "%04x:%04x", v, p) + ")"))
            try? await Task.sleep(for: .seconds(1))  // let the kernel bind its drivers first
            guard let device = (try? USBInventory.scan())?.first(where: { $0.bus == bus && $0.address == address })
            else { return }
            let wanted: [ReaderStack] =
                (configuration.pcsc ? [.pcsc] : []) + (configuration.libnfc.isEmpty ? [] : [.libnfc])
            let problems = wanted.compactMap { USBInventory.problem(device, wanted: $0) }
            if problems.count == wanted.count, let first = problems.first { continuation.yield(.error(name, first)) }
        }
    }

    /// Stops the PC/SC monitor, USB hot-plug and libnfc supervision, waits for their tasks, closes the libnfc devices
    /// and finishes `events`.
    public func stop() async {
        stopped = true
        monitor?.stop()
        hotplug?.stop()
        for (_, r) in readers { r.nfc?.cancel() }
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
        for (_, r) in readers { r.nfc?.close() }
        tasks = []
        continuation.finish()
    }

    /// The status of every reader, in the order they were attached.
    public func snapshot() -> [ReaderSnapshot] {
        order.compactMap { name in
            readers[name].map {
                ReaderSnapshot(
                    name: name, backend: $0.backend, state: $0.leased ? .inUse : $0.state, lastError: $0.lastError,
                    model: Self.model(of: name))
            }
        }
    }

    /// Whether pcscd is reachable (always false when PC/SC is off).
    public var pcscAvailable: Bool { pcscUp }

    /// The reader model a name points to, for signals and diagnostics.
    static func model(of name: String) -> String? {
        if name.contains("ACR122") { return "ACR122U" }
        if name.contains("ACR1252") { return "ACR1252U" }
        if name.contains("SCL3711") { return "SCL3711" }
        if name.hasPrefix("pn532_uart") { return "PN532 (UART)" }
        if name.hasPrefix("pn53x_usb") { return "PN533 (USB)" }
        if name.hasPrefix("acr122_usb") { return "ACR122U (libnfc)" }
        if name.contains("uTrust") { return "Identiv uTrust" }
        if name.contains("OMNIKEY") { return "HID OMNIKEY" }
        return nil
    }

    private func ignored(_ name: String) -> Bool {
        if !configuration.virtualReaders, ReaderManagerConfiguration.isVirtual(name) { return true }
        return configuration.ignore.contains { name.contains($0) }
    }

    private func handle(_ e: ReaderEvent) {
        switch e {
        case .serviceUp: pcscUp = true
        case .serviceDown(let why):
            pcscUp = false
            for name in order where readers[name]?.backend == .pcsc {
                readers[name] = nil
                continuation.yield(.detached(name))
            }
            order.removeAll { readers[$0] == nil }
            continuation.yield(.error("pcscd", why))
        case .attached(let name):
            guard !ignored(name), readers[name] == nil else { return }
            readers[name] = Managed(backend: .pcsc, state: .idle)
            order.append(name)
            continuation.yield(.attached(name, .pcsc))
        case .detached(let name):
            guard readers[name] != nil else { return }
            readers[name] = nil
            order.removeAll { $0 == name }
            continuation.yield(.detached(name))
        case .cardPresent(let name, _):
            guard readers[name] != nil else { return }
            readers[name]?.state = .cardPresent
            continuation.yield(.cardPresent(name))
        case .cardRemoved(let name):
            guard readers[name] != nil else { return }
            readers[name]?.state = .idle
            continuation.yield(.cardRemoved(name))
        }
    }

    /// Opens a libnfc device, re-opening with backoff while it is absent, and notices when a serial adapter's device
    /// node disappears (unplugged).
    private func superviseLibNFC(_ connstring: String) async {
        guard let ctx = nfcContext else {
            continuation.yield(.error(connstring, "libnfc could not start"))
            return
        }
        var delay = libnfcBackoff.initial
        var lastFailure: String?
        let port = NFCReader.serialPort(of: connstring)
        while !stopped && !Task.isCancelled {
            let reader: NFCReader
            do {
                reader = try await NFCReader(context: ctx, connstring: connstring)
            } catch {
                let why = "\(error)"
                if why != lastFailure {
                    continuation.yield(.error(connstring, why))
                    lastFailure = why
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, libnfcBackoff.maximum)
                continue
            }
            delay = libnfcBackoff.initial
            lastFailure = nil
            guard !stopped else {
                reader.close()
                return
            }
            readers[connstring] = Managed(backend: .libnfc, state: .idle, nfc: reader)
            if !order.contains(connstring) { order.append(connstring) }
            continuation.yield(.attached(connstring, .libnfc))
            // Idle supervision: the PN53x has no event line; a stat of the tty is all an idle check costs.
            while !stopped && !Task.isCancelled {
                try? await Task.sleep(for: libnfcCheckInterval)
                if let port, access(port, F_OK) != 0 { break }
                if readers[connstring]?.state == .error && readers[connstring]?.leased == false { break }
            }
            readers[connstring] = nil
            order.removeAll { $0 == connstring }
            reader.close()
            if !stopped { continuation.yield(.detached(connstring)) }
        }
    }

    /// Takes a reader for one transaction: the named one, else the preferred one, else the first idle one.
    public func acquire(_ name: String? = nil) throws -> ReaderLease {
        var candidates: [String]
        if let name {
            candidates = order.filter { $0 == name || $0.hasPrefix(name) }
            guard !candidates.isEmpty else {
                throw order.isEmpty ? ReaderManagerError.noReader : ReaderManagerError.unknownReader(name)
            }
        } else {
            guard !order.isEmpty else { throw ReaderManagerError.noReader }
            // The preferred reader first; the others when it is absent or busy, so a sale still finds a reader.
            let preferred = configuration.preferred.map { p in order.filter { $0 == p || $0.hasPrefix(p) } } ?? []
            candidates = preferred + order.filter { !preferred.contains($0) }
        }
        guard let chosen = candidates.first(where: { readers[$0]?.leased == false && readers[$0]?.state != .error })
        else {
            throw ReaderManagerError.busy(candidates[0])
        }
        readers[chosen]?.leased = true
        let r = readers[chosen]!
        return ReaderLease(
            manager: self, reader: chosen, backend: r.backend, nfc: r.nfc,
            exclusive: configuration.exclusive, signals: configuration.signals)
    }

    func release(_ name: String, failure: String?) {
        readers[name]?.leased = false
        if let failure {
            readers[name]?.lastError = failure
            continuation.yield(.error(name, failure))
        }
    }

    func note(_ event: ReaderManagerEvent) {
        if case .cardPresent(let n) = event, readers[n]?.backend == .libnfc { readers[n]?.state = .cardPresent }
        if case .cardRemoved(let n) = event, readers[n]?.backend == .libnfc { readers[n]?.state = .idle }
        continuation.yield(event)
    }
}

/// A card or phone found by a lease.
public struct TappedCard: Sendable {
    /// The channel the kernel sends the card its APDUs through.
    public let channel: any CardChannel
    /// PC/SC: the ATR (contactless readers build a pseudo-ATR from the ATS, PC/SC Part 3 §3.1.3.2.3). libnfc: the ATS.
    public let answerToSelect: [UInt8]
    /// The reader's thread: run the kernel there (`run`) and every APDU is a direct call into the stack.
    public let executor: ReaderExecutor

    /// Bundles a card's channel, its ATR or ATS, and its reader's executor.
    public init(channel: any CardChannel, answerToSelect: [UInt8], executor: ReaderExecutor) {
        self.channel = channel
        self.answerToSelect = answerToSelect
        self.executor = executor
    }

    /// Runs `body` (the kernel's conversation with this card) on the reader's own thread.
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        try await withTaskExecutorPreference(executor, operation: body)
    }
}

/// Exclusive use of one reader for one transaction. Call `finish()` when done.
public final class ReaderLease: @unchecked Sendable {
    /// The leased reader's name (PC/SC reader name or libnfc connstring).
    public let reader: String
    /// The stack that drives the leased reader.
    public let backend: ReaderBackend
    let manager: ReaderManager
    let nfc: NFCReader?
    let exclusive: Bool
    private let lock = NSLock()
    private var context: PCSCContext?
    private var pcscCard: PCSCCard?
    private var nfcCard: NFCCard?
    private var finished = false
    private var signalsWork: Bool

    init(
        manager: ReaderManager, reader: String, backend: ReaderBackend, nfc: NFCReader?, exclusive: Bool, signals: Bool
    ) {
        self.manager = manager
        self.reader = reader
        self.backend = backend
        self.nfc = nfc
        self.exclusive = exclusive
        self.signalsWork = signals && ReaderSignals.commands(for: ReaderManager.model(of: reader) ?? "", .idle) != nil
    }

    /// Waits for a card or phone (nil after `timeout`); throws `CardError.cancelled` after `cancel()`.
    public func waitForCard(timeout: Duration) async throws -> TappedCard? {
        switch backend {
        case .virtual:
            throw CardError.transport("a virtual reader is not leased from the reader manager")
        case .libnfc:
            guard let nfc else { throw CardError.transport("the libnfc device is not open") }
            guard let card = try await nfc.waitForCard(timeout: timeout) else { return nil }
            lock.withLock { nfcCard = card }
            await manager.note(.cardPresent(reader))
            return TappedCard(channel: card, answerToSelect: card.target.ats, executor: nfc.executor)
        case .pcsc:
            let ctx = try lock.withLock { () throws -> PCSCContext in
                if let c = context { return c }
                let c = try PCSCContext()
                context = c
                return c
            }
            let deadline = ContinuousClock.now + timeout
            var known: [String: ReaderStatus] = [:]
            while true {
                if lock.withLock({ finished }) { throw CardError.cancelled }
                let left = deadline - ContinuousClock.now
                guard left > .zero else { return nil }
                let states: [ReaderStatus]
                do { states = try await ctx.waitForChange(known, readers: [reader], timeout: left) } catch let e
                    as PCSCError where e.code == PCSCCode.cancelled
                { throw CardError.cancelled } catch let e as PCSCError { throw CardError.transport(e.description) }
                guard let s = states.first else { continue }
                if s.cardPresent {
                    // A card tapped again (after "see phone"): the earlier connection goes first.
                    lock.withLock { pcscCard }?.disconnect()
                    do {
                        // SCardConnect blocks (pcscd powers the card up): on the context's queue, not the cooperative pool.
                        let exclusive = self.exclusive
                        let name = self.reader
                        let card = try await ctx.queue.perform {
                            try PCSCCard(context: ctx, reader: name, exclusive: exclusive)
                        }
                        lock.withLock { pcscCard = card }
                        return TappedCard(channel: card, answerToSelect: card.atr, executor: card.executor)
                    } catch CardError.cardRemoved {
                        // Gone between the event and the connect (a glancing tap): wait for the next one.
                    }
                }
                known[reader] = s
            }
        }
    }

    /// Ends a wait for a card in progress.
    public func cancel() {
        lock.withLock { context }?.cancel()
        nfc?.cancel()
    }

    /// Shows a Book A user-interface status on the reader's LEDs and buzzer when it has them; never fails the sale.
    public func signal(_ s: UISignal) async {
        guard lock.withLock({ signalsWork }), let model = ReaderManager.model(of: reader),
            let commands = ReaderSignals.commands(for: model, s)
        else { return }
        // Without a card the reader is reached through a direct connection (SCARD_SHARE_DIRECT) and escapes.
        let card: PCSCCard
        if let c = lock.withLock({ pcscCard }) {
            card = c
        } else {
            let reader = self.reader
            guard let ctx = lock.withLock({ context }) ?? (try? PCSCContext()),
                let direct = try? await ctx.queue.perform({ try PCSCCard(context: ctx, reader: reader, direct: true) })
            else { return }
            card = direct
        }
        let connected = lock.withLock { pcscCard } != nil
        for c in commands {
            do {
                // SCardControl blocks on the reader's USB round trip: on the card's own queue.
                switch c {
                case .apdu(let bytes) where connected: _ = try await card.transmit(bytes)
                case .apdu(let bytes), .escape(let bytes):
                    _ = try await card.executor.perform { try card.control(PCSCControlCode.ccidEscape, bytes) }
                }
            } catch {
                lock.withLock { signalsWork = false }  // the driver refuses escapes: stop trying this lease
                return
            }
        }
    }

    /// Waits until the card has left the field (true) or `timeout` passes (false). EMV Book A §9: "remove card".
    public func waitForRemoval(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        switch backend {
        case .virtual:
            return true
        case .libnfc:
            guard let card = lock.withLock({ nfcCard }) else { return true }
            while ContinuousClock.now < deadline {
                if await !card.isPresent() {
                    await manager.note(.cardRemoved(reader))
                    return true
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        case .pcsc:
            guard let ctx = lock.withLock({ context }) else { return true }
            var known: [String: ReaderStatus] = [:]
            while ContinuousClock.now < deadline {
                guard
                    let s = try? await ctx.waitForChange(
                        known, readers: [reader], timeout: deadline - ContinuousClock.now
                    ).first
                else { return false }
                if !s.cardPresent { return true }
                known[reader] = s
            }
            return false
        }
    }

    /// Releases the card and the reader. `failure` marks the reader as faulty in its status.
    public func finish(failure: String? = nil) async {
        let (p, n) = lock.withLock { () -> (PCSCCard?, NFCCard?) in
            finished = true
            defer {
                pcscCard = nil
                nfcCard = nil
            }
            return (pcscCard, nfcCard)
        }
        p?.disconnect()
        if let n { await n.release() }
        await manager.release(reader, failure: failure)
    }
}

/// What each reader model needs to show a user-interface status (reader-stack notes §3.2, §3.3).
public enum ReaderSignals {
    /// One reader command for a signal: a pseudo-APDU (sent with SCardTransmit when a card is connected, else as an
    /// escape) or a CCID escape sent with SCardControl.
    public enum Command: Sendable, Equatable {
        case apdu([UInt8])
        case escape([UInt8])
    }

    /// The commands that show `s` on a reader of `model` (ACR122U or ACR1252U); nil when tapd cannot drive that model's
    /// LEDs and buzzer.
    public static func commands(for model: String, _ s: UISignal) -> [Command]? {
        switch model {
        case "ACR122U":
            // FF 00 40: red/green final state, blinking, and buzzer linked to T1 (0x01) — 100 ms units.
            let c: [UInt8]
            switch s {
            case .idle: c = ReaderCommands.acr122uLEDAndBuzzer(redOn: false, greenOn: false)
            case .presentCard: c = ReaderCommands.acr122uLEDAndBuzzer(redOn: false, greenOn: true)
            case .processing:
                c = ReaderCommands.acr122uLEDAndBuzzer(
                    redOn: false, greenOn: true, blinkGreen: true, onTenths: 1, offTenths: 1, repetitions: 5)
            case .cardRead:
                c = ReaderCommands.acr122uLEDAndBuzzer(
                    redOn: false, greenOn: true, onTenths: 1, offTenths: 0, repetitions: 1, buzzer: 1)
            case .approved:
                c = ReaderCommands.acr122uLEDAndBuzzer(
                    redOn: false, greenOn: true, onTenths: 5, offTenths: 0, repetitions: 1, buzzer: 1)
            case .declined, .error:
                c = ReaderCommands.acr122uLEDAndBuzzer(
                    redOn: true, greenOn: false, blinkRed: true, onTenths: 2, offTenths: 2, repetitions: 2, buzzer: 1)
            case .removeCard: c = ReaderCommands.acr122uLEDAndBuzzer(redOn: true, greenOn: true)
            }
            return [.apdu(c)]
        case "ACR1252U":
            switch s {
            case .idle: return [.escape(ReaderCommands.acr1252LED(red: false, green: false))]
            case .presentCard, .processing: return [.escape(ReaderCommands.acr1252LED(red: false, green: true))]
            case .cardRead: return [.escape(ReaderCommands.acr1252Buzzer(tenMilliseconds: 5))]
            case .approved:
                return [
                    .escape(ReaderCommands.acr1252LED(red: false, green: true)),
                    .escape(ReaderCommands.acr1252Buzzer(tenMilliseconds: 50)),
                ]
            case .declined, .error:
                return [
                    .escape(ReaderCommands.acr1252LED(red: true, green: false)),
                    .escape(ReaderCommands.acr1252Buzzer(tenMilliseconds: 20)),
                    .escape(ReaderCommands.acr1252Buzzer(tenMilliseconds: 20)),
                ]
            case .removeCard: return [.escape(ReaderCommands.acr1252LED(red: true, green: true))]
            }
        default:
            return nil
        }
    }
}
