// The libnfc back end (libnfc 1.8.0): readers tapd drives directly — PN532 boards on a UART, PN533/SCL3711 and
// ACR122U over USB when pcscd does not own them. Every libnfc call for one device runs on that device's own serial
// queue (libnfc devices are not thread-safe, and its calls block), never on Swift's cooperative pool.
// libnfc pitfalls handled here:
//  - a transmit over 262 bytes overflows a stack buffer in libnfc 1.8.0 and aborts the process: refused first;
//  - libnfc has no working exclusive-open guard for serial ports: tapd flocks the tty and sets TIOCEXCL itself;
//  - `nfc_initiator_poll_target` on a PN532 (InAutoPoll) has no host timeout: tapd polls with single-shot
//    InListPassiveTarget (MaxRetries 0, NP_INFINITE_SELECT off) so a wait is bounded and cancellable.

import APDU
import CLibNFC
import Dispatch
import Foundation

/// A failed libnfc call: the function, libnfc's error code and its message.
public struct NFCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The libnfc function (or step, such as open or flock) that failed.
    public let call: String
    /// libnfc's negative NFC_E* code; tapd's own failures to open a device use -4 (NFC_ENOTSUCHDEV).
    public let code: Int32
    /// The human-readable reason (nfc_strerror, or tapd's own text).
    public let message: String
    /// The call, the message and the NFC_E* name, for logs.
    public var description: String { "\(call): \(message) (\(NFCError.name(code)))" }

    /// libnfc's error names (nfc/nfc.h).
    public static func name(_ code: Int32) -> String {
        switch code {
        case 0: "NFC_SUCCESS"
        case -1: "NFC_EIO"
        case -2: "NFC_EINVARG"
        case -3: "NFC_EDEVNOTSUPP"
        case -4: "NFC_ENOTSUCHDEV"
        case -5: "NFC_EOVFLOW"
        case -6: "NFC_ETIMEOUT"
        case -7: "NFC_EOPABORTED"
        case -8: "NFC_ENOTIMPL"
        case -10: "NFC_ETGRELEASED"
        case -20: "NFC_ERFTRANS"
        case -30: "NFC_EMFCAUTHFAIL"
        case -80: "NFC_ESOFT"
        case -90: "NFC_ECHIP"
        default: "libnfc error \(code)"
        }
    }
}

/// Frame waiting time of an ISO 14443-4 card: FWT = (256 × 16 / fc) × 2^FWI, fc = 13.56 MHz
/// (ISO/IEC 14443-4:2018 §7.2; FWI from TB(1) of the ATS, §5.2.5, default 4; type B: ATQB protocol info, 14443-3
/// §7.9.4.3). FWI 15 is RFU and read as the default.
public struct FrameWaitingTime: Sendable, Equatable {
    /// The frame waiting time integer, 0 to 14.
    public let fwi: Int
    /// Takes an FWI as read from the card; values outside 0 to 14 (15 is RFU) become the default 4.
    public init(fwi: Int) { self.fwi = (0...14).contains(fwi) ? fwi : 4 }

    /// From the ATS as libnfc keeps it (T0 onwards; TL already removed).
    public init(atsAfterTL ats: [UInt8]) {
        guard let t0 = ats.first else {
            self.init(fwi: 4)
            return
        }
        var i = 1
        if t0 & 0x10 != 0 { i += 1 }  // TA(1)
        guard t0 & 0x20 != 0, i < ats.count else {
            self.init(fwi: 4)
            return
        }
        self.init(fwi: Int(ats[i] >> 4))  // TB(1): FWI ‖ SFGI
    }

    /// FWT in microseconds (302.06 µs × 2^FWI).
    public var microseconds: Double { 4096.0 / 13.56 * Double(1 << fwi) }

    /// How long the host waits for one exchange. The reader chip handles S(WTX) requests itself, so a phone may
    /// legitimately take many FWTs (waiting-time extensions of hundreds of milliseconds, EMV Book D §10.3 allows
    /// WTXM up to 59): never less than 2 s, twice the FWT plus a second for slower ones, at most 10 s.
    public var exchangeDeadline: Duration {
        let ms = min(10_000, max(2_000, Int(2 * microseconds / 1000) + 1_000))
        return .milliseconds(ms)
    }
}

/// The process's libnfc context (nfc_init): reads LIBNFC_* environment variables and /etc/nfc/libnfc.conf.
/// One per process, never exited: in libnfc 1.8.0 the driver list is global and `nfc_exit` on any context frees it,
/// after which every other context answers "No driver available" to nfc_open.
public final class NFCContext: @unchecked Sendable {
    let handle: OpaquePointer

    private init() throws {
        var c: OpaquePointer?
        nfc_init(&c)
        guard let c else {
            throw NFCError(call: "nfc_init", code: -80, message: "libnfc could not start (out of memory?)")
        }
        handle = c
    }

    private static let instance = Result { try NFCContext() }
    /// The process's single libnfc context, created on first use; throws NFCError when nfc_init failed (every call then
    /// rethrows it).
    public static func shared() throws -> NFCContext { try instance.get() }

    /// The libnfc version string (nfc_version).
    public static var version: String { String(cString: nfc_version()) }

    /// Devices libnfc finds by itself (USB, and whatever libnfc.conf or LIBNFC_DEVICE names). Serial ports are only
    /// found when configured: libnfc's scan never looks at ptys and its UART scan is off by default.
    public func devices(max: Int = 16) -> [String] {
        let size = MemoryLayout<nfc_connstring>.stride
        var raw = [UInt8](repeating: 0, count: max * size)
        let n = raw.withUnsafeMutableBytes { b in
            nfc_list_devices(handle, b.baseAddress!.assumingMemoryBound(to: nfc_connstring.self), max)
        }
        return (0..<min(Int(n), max)).map { i in
            String(decoding: raw[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// A libnfc handle carried to the device's queue (used only there).
struct NFCHandle: @unchecked Sendable { let pointer: OpaquePointer }

/// A target found in the field.
public struct NFCTarget: Sendable, Equatable {
    /// Which ISO 14443 type the target answered as.
    public enum Kind: Sendable, Equatable { case iso14443A, iso14443B }
    /// Whether the target is ISO 14443 type A or type B.
    public let kind: Kind
    /// Type A: UID (NFCID1; phones use a random one on every tap — never an identity). Type B: PUPI.
    public let identifier: [UInt8]
    /// Type A: ATQA, SAK and the ATS without TL. Type B: ATQB application data and protocol info.
    public let atqa: [UInt8]
    /// Type A: the SAK byte (select acknowledge); 0 for type B.
    public let sak: UInt8
    /// Type A: the ATS without its TL byte (empty when the card sent none); empty for type B.
    public let ats: [UInt8]
    /// The card's frame waiting time, from TB(1) of the ATS (type A) or the ATQB protocol info (type B).
    public let frameWaitingTime: FrameWaitingTime
    /// SAK bit 6 (ISO/IEC 14443-3 §6.5.3.4): the card speaks ISO 14443-4 (ISO-DEP), as every payment card does.
    /// A type B target answering ATQB with protocol type 1 does too.
    public let isoDEP: Bool
}

/// One libnfc device opened as an initiator (a reader looking for cards).
public final class NFCReader: @unchecked Sendable {
    /// The largest C-APDU libnfc 1.8.0 can carry: PN53x extended frame data (264) minus InDataExchange's command
    /// code and target number. Larger ones overflow a buffer inside libnfc and abort the process.
    public static let maxCommandLength = 262

    /// The libnfc connstring the device was opened with, e.g. "pn532_uart:/dev/ttyUSB0".
    public let connstring: String
    /// The device name libnfc reports (nfc_device_get_name).
    public let name: String
    let context: NFCContext
    let device: OpaquePointer
    /// Where every libnfc call for this device runs (see ReaderExecutor).
    public let executor: ReaderExecutor
    private let lockFD: Int32
    private let lock = NSLock()
    private var cancelled = false
    private var closed = false
    private let wake = DispatchSemaphore(value: 0)
    /// How long to rest between two rounds of polling for a card (type A then type B).
    public var pollInterval: Duration = .milliseconds(100)

    /// Opens the device and initialises it as an initiator. Serial ports are locked first (flock, then TIOCEXCL once
    /// libnfc has its own descriptor) so two processes never drive one UART.
    public init(context: NFCContext, connstring: String) async throws {
        self.context = context
        self.connstring = connstring
        let executor = ReaderExecutor(label: "tapd.libnfc.device")
        self.executor = executor
        let port = NFCReader.serialPort(of: connstring)
        var fd: Int32 = -1
        if let port {
            fd = open(port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else {
                throw NFCError(call: "open", code: -4, message: "\(port): \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                Glibc.close(fd)
                throw NFCError(
                    call: "flock", code: -4,
                    message: e == EWOULDBLOCK
                        ? "\(port) is in use by another process" : "\(port): \(String(cString: strerror(e)))")
            }
        }
        lockFD = fd
        let ctx = NFCHandle(pointer: context.handle)
        let opened: (NFCHandle?, String)? = try? await executor.perform { () -> (NFCHandle?, String) in
            guard let d = nfc_open(ctx.pointer, connstring) else { return (nil, "") }
            return (NFCHandle(pointer: d), String(cString: nfc_device_get_name(d)))
        }
        guard let opened, let h = opened.0 else {
            if fd >= 0 { Glibc.close(fd) }
            throw NFCError(
                call: "nfc_open", code: -4,
                message: "cannot open \(connstring) (no device answers there, or it is busy)")
        }
        device = h.pointer
        name = opened.1
        if fd >= 0 { _ = ioctl(fd, UInt(TIOCEXCL)) }
        do {
            try await executor.perform {
                let d = h.pointer
                guard nfc_initiator_init(d) >= 0 else { throw NFCReader.lastError("nfc_initiator_init", d) }
                // Bounded selects: MaxRetries 0, so InListPassiveTarget answers at once when the field is empty.
                guard nfc_device_set_property_bool(d, NP_INFINITE_SELECT, false) >= 0 else {
                    throw NFCReader.lastError("NP_INFINITE_SELECT", d)
                }
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// The tty of a UART connstring (`pn532_uart:/dev/ttyUSB0[:115200]`, `arygon:…`, `acr122s:…`), else nil.
    public static func serialPort(of connstring: String) -> String? {
        let parts = connstring.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, ["pn532_uart", "arygon", "acr122s"].contains(String(parts[0])), parts[1].hasPrefix("/")
        else { return nil }
        return String(parts[1])
    }

    static func lastError(_ call: String, _ d: OpaquePointer) -> NFCError {
        NFCError(call: call, code: nfc_device_get_last_error(d), message: String(cString: nfc_strerror(d)))
    }

    /// Field off, device idle, port unlocked. Safe to call more than once.
    public func close() {
        lock.lock()
        guard !closed else {
            lock.unlock()
            return
        }
        closed = true
        cancelled = true
        lock.unlock()
        wake.signal()
        if executor.isCurrent { nfc_close(device) } else { executor.queue.sync { nfc_close(device) } }
        if lockFD >= 0 {
            _ = ioctl(lockFD, UInt(TIOCNXCL))
            Glibc.close(lockFD)
        }
    }

    /// Ends a `waitForCard` in progress (it throws `CardError.cancelled`) within one polling round.
    public func cancel() {
        lock.withLock { cancelled = true }
        wake.signal()
    }

    private func takeCancel() -> Bool {
        lock.withLock {
            let c = cancelled
            if !closed { cancelled = false }
            return c
        }
    }

    /// Polls for an ISO 14443 type A or B card until one answers or `timeout` passes (nil). RF polling is what the
    /// chip does anyway; between rounds the thread sleeps, so an empty field costs almost no CPU.
    public func waitForCard(timeout: Duration) async throws -> NFCCard? {
        _ = takeCancel()
        let deadline = ContinuousClock.now + timeout
        let h = NFCHandle(pointer: device)
        while true {
            if takeCancel() { throw CardError.cancelled }
            let found: (nfc_target, NFCTarget)? = try await executor.perform {
                let d = h.pointer
                for nmt in [NMT_ISO14443A, NMT_ISO14443B] {
                    var t = nfc_target()
                    let r = nfc_initiator_select_passive_target(d, nfc_modulation(nmt: nmt, nbr: NBR_106), nil, 0, &t)
                    if r > 0, let target = NFCReader.describe(t) { return (t, target) }
                    if r < 0, r != -6 /* NFC_ETIMEOUT */ {
                        throw NFCReader.lastError("nfc_initiator_select_passive_target", d)
                    }
                }
                return nil
            }
            if let found { return NFCCard(reader: self, raw: found.0, target: found.1) }
            let now = ContinuousClock.now
            guard now < deadline else { return nil }
            let rest = min(pollInterval, deadline - now)
            _ = await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    _ = self.wake.wait(
                        timeout: .now()
                            + .milliseconds(
                                Int(
                                    rest.components.seconds * 1000 + rest.components.attoseconds / 1_000_000_000_000_000
                                )))
                    k.resume()
                }
            }
        }
    }

    static func describe(_ t: nfc_target) -> NFCTarget? {
        switch t.nm.nmt {
        case NMT_ISO14443A:
            let a = t.nti.nai
            let uid = withUnsafeBytes(of: a.abtUid) { Array($0.prefix(min(Int(a.szUidLen), 10))) }
            let ats = withUnsafeBytes(of: a.abtAts) { Array($0.prefix(min(Int(a.szAtsLen), 254))) }
            let atqa = withUnsafeBytes(of: a.abtAtqa) { Array($0) }
            return NFCTarget(
                kind: .iso14443A, identifier: uid, atqa: atqa, sak: a.btSak, ats: ats,
                frameWaitingTime: FrameWaitingTime(atsAfterTL: ats), isoDEP: a.btSak & 0x20 != 0)
        case NMT_ISO14443B:
            let b = t.nti.nbi
            let pupi = withUnsafeBytes(of: b.abtPupi) { Array($0) }
            let app = withUnsafeBytes(of: b.abtApplicationData) { Array($0) }
            let proto = withUnsafeBytes(of: b.abtProtocolInfo) { Array($0) }
            return NFCTarget(
                kind: .iso14443B, identifier: pupi, atqa: app + proto, sak: 0, ats: [],
                frameWaitingTime: FrameWaitingTime(fwi: Int(proto[2] >> 4)), isoDEP: proto[1] & 0x01 != 0)
        default:
            return nil
        }
    }
}

/// A card or phone in the field of a libnfc reader, as the kernels see it (APDU.CardChannel).
public final class NFCCard: CardChannel, @unchecked Sendable {
    /// The libnfc reader whose field the card is in; its executor runs the card's exchanges.
    public let reader: NFCReader
    /// What the card answered when it was selected (identifier, ATS, frame waiting time).
    public let target: NFCTarget
    private let raw: nfc_target

    init(reader: NFCReader, raw: nfc_target, target: NFCTarget) {
        self.reader = reader
        self.raw = raw
        self.target = target
    }

    /// Sends one C-APDU over ISO-DEP (the chip does the block chaining and waiting-time extensions) and returns the
    /// R-APDU. The host waits the card's exchange deadline (derived from its FWT), then checks whether it is still in
    /// the field: gone → `cardRemoved`, there → `timeout`.
    public func transmit(_ command: [UInt8]) async throws -> [UInt8] {
        guard target.isoDEP else { throw CardError.transport("the card in the field does not speak ISO 14443-4") }
        guard command.count >= 4 else { throw CardError.transport("C-APDU of \(command.count) bytes") }
        guard command.count <= NFCReader.maxCommandLength else { throw CardError.commandTooLong(command.count) }
        let h = NFCHandle(pointer: reader.device)
        let deadline = target.frameWaitingTime.exchangeDeadline
        let ms = Int32(deadline.components.seconds * 1000 + deadline.components.attoseconds / 1_000_000_000_000_000)
        let raw = self.raw
        return try await reader.executor.perform {
            let d = h.pointer
            var t = raw
            var n: Int32 = 0
            // libnfc never returns more than a PN53x extended frame carries (MI chaining included, 64 KiB bound).
            let response = [UInt8](unsafeUninitializedCapacity: 65_538) { buf, count in
                n = command.withUnsafeBufferPointer { c in
                    nfc_initiator_transceive_bytes(d, c.baseAddress, c.count, buf.baseAddress, buf.count, ms)
                }
                count = n > 0 ? min(Int(n), buf.count) : 0
            }
            if n >= 2 { return response }
            if n >= 0 { throw CardError.cardRemoved }  // fewer than SW1 SW2: the card left
            switch n {
            case -20, -6, -10:  // RF error, timeout, target released
                // ISO/IEC 14443-4 §7.5.6 presence check: no answer means the card has left the field.
                if nfc_initiator_target_is_present(d, &t) != 0 { throw CardError.cardRemoved }
                throw n == -6
                    ? CardError.timeout
                    : CardError.transport(NFCReader.lastError("nfc_initiator_transceive_bytes", d).description)
            case -7: throw CardError.cancelled
            default: throw CardError.transport(NFCReader.lastError("nfc_initiator_transceive_bytes", d).description)
            }
        }
    }

    /// Whether the card still answers (ISO-DEP presence check).
    public func isPresent() async -> Bool {
        let h = NFCHandle(pointer: reader.device)
        let raw = self.raw
        return
            (try? await reader.executor.perform {
                var t = raw
                return nfc_initiator_target_is_present(h.pointer, &t) == 0
            }) ?? false
    }

    /// Deselects the card (S(DESELECT)), leaving the field on for the next one.
    public func release() async {
        let h = NFCHandle(pointer: reader.device)
        _ = try? await reader.executor.perform { _ = nfc_initiator_deselect_target(h.pointer) }
    }
}
