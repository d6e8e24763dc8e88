// The PC/SC back end over libpcsclite (pcsc-lite's client library, talking to pcscd). Calls that block
// (SCardGetStatusChange, SCardConnect, SCardTransmit) run on a queue of their own, never on Swift's cooperative
// pool. Return codes are pcsc-lite's (PCSC/pcsclite.h); they are spelled out here because the C header defines them
// as casts Swift cannot import.

import APDU
import CPCSCLite
import Dispatch
import Foundation

/// pcsc-lite return codes (SCARD_S_*, SCARD_E_*, SCARD_W_*) that tapd tests for, as plain integers.
public enum PCSCCode {
    /// SCARD_S_SUCCESS: the call succeeded.
    public static let success = 0x0000_0000
    /// SCARD_E_CANCELLED: an SCardCancel interrupted the call (how a waitForChange is stopped).
    public static let cancelled = 0x8010_0002
    /// SCARD_E_INSUFFICIENT_BUFFER: the buffer given for the answer was too small.
    public static let insufficientBuffer = 0x8010_0008
    /// SCARD_E_UNKNOWN_READER: pcscd does not know the reader name (it was detached, for instance).
    public static let unknownReader = 0x8010_0009
    /// SCARD_E_TIMEOUT: the timeout passed with nothing changed; waitForChange treats it as a normal return.
    public static let timeout = 0x8010_000A
    /// SCARD_E_NO_SMARTCARD: the call needs a card and none is there; PCSCCard reports it as CardError.cardRemoved.
    public static let noSmartcard = 0x8010_000C
    /// SCARD_E_NOT_TRANSACTED: the reader could not complete an exchange, typically because the card left mid-APDU;
    /// PCSCCard reports it as CardError.cardRemoved.
    public static let notTransacted = 0x8010_0016
    /// SCARD_E_READER_UNAVAILABLE: the reader cannot be reached (unplugged, or its driver failed).
    public static let readerUnavailable = 0x8010_0017
    /// SCARD_E_NO_SERVICE: pcscd is not running (see PCSCError.serviceGone).
    public static let noService = 0x8010_001D
    /// SCARD_E_SERVICE_STOPPED: pcscd shut down while the context was open (see PCSCError.serviceGone).
    public static let serviceStopped = 0x8010_001E
    /// SCARD_E_NO_READERS_AVAILABLE: no reader is attached; readers() turns it into an empty list.
    public static let noReadersAvailable = 0x8010_002E
    /// pcsc-lite's value (Windows uses 0x80100022).
    public static let unsupportedFeature = 0x8010_001F
    /// SCARD_W_RESET_CARD: the card was reset under this connection; PCSCCard reports it as CardError.cardRemoved.
    public static let resetCard = 0x8010_0068
    /// SCARD_W_REMOVED_CARD: the card left the field; PCSCCard reports it as CardError.cardRemoved.
    public static let removedCard = 0x8010_0069

    /// The name pcsc-lite's pcsc_stringify_error would give, for logs and diagnostics.
    public static func name(_ rv: Int) -> String {
        switch rv {
        case success: "SCARD_S_SUCCESS"
        case cancelled: "SCARD_E_CANCELLED"
        case insufficientBuffer: "SCARD_E_INSUFFICIENT_BUFFER"
        case unknownReader: "SCARD_E_UNKNOWN_READER"
        case timeout: "SCARD_E_TIMEOUT"
        case noSmartcard: "SCARD_E_NO_SMARTCARD"
        case notTransacted: "SCARD_E_NOT_TRANSACTED"
        case readerUnavailable: "SCARD_E_READER_UNAVAILABLE"
        case noService: "SCARD_E_NO_SERVICE"
        case serviceStopped: "SCARD_E_SERVICE_STOPPED"
        case noReadersAvailable: "SCARD_E_NO_READERS_AVAILABLE"
        case unsupportedFeature: "SCARD_E_UNSUPPORTED_FEATURE"
        case resetCard: "SCARD_W_RESET_CARD"
        case removedCard: "SCARD_W_REMOVED_CARD"
        default: "PC/SC error 0x" + String(rv, radix: 16, uppercase: true)
        }
    }
}

/// A failed PC/SC call: which SCard function failed and the pcsc-lite return code it gave.
public struct PCSCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The PC/SC function that failed, e.g. "SCardGetStatusChange".
    public let call: String
    /// The pcsc-lite return code (one of PCSCCode's values, or another SCARD_* code).
    public let code: Int
    /// The call and the code's SCARD_* name, for logs.
    public var description: String { "\(call): \(PCSCCode.name(code))" }
    /// pcscd is not running or went away (restart, socket activation exiting when idle): reconnect with backoff.
    public var serviceGone: Bool { code == PCSCCode.noService || code == PCSCCode.serviceStopped }
}

/// Reader states from SCardGetStatusChange (PCSC/pcsclite.h SCARD_STATE_*).
public struct ReaderState: OptionSet, Sendable, Hashable {
    /// The SCARD_STATE_* bits.
    public let rawValue: UInt
    /// Wraps SCARD_STATE_* bits as they are.
    public init(rawValue: UInt) { self.rawValue = rawValue }
    /// SCARD_STATE_CHANGED: the state differs from the one the caller knew; waitForChange strips it from the states it
    /// returns.
    public static let changed = ReaderState(rawValue: 0x0002)
    /// SCARD_STATE_UNKNOWN: pcscd does not know the reader name.
    public static let unknown = ReaderState(rawValue: 0x0004)
    /// SCARD_STATE_UNAVAILABLE: the reader's actual state is not available.
    public static let unavailable = ReaderState(rawValue: 0x0008)
    /// SCARD_STATE_EMPTY: no card in the reader's field.
    public static let empty = ReaderState(rawValue: 0x0010)
    /// SCARD_STATE_PRESENT: a card is in the reader's field.
    public static let present = ReaderState(rawValue: 0x0020)
    /// SCARD_STATE_EXCLUSIVE: a connection holds the card exclusively.
    public static let exclusive = ReaderState(rawValue: 0x0080)
    /// SCARD_STATE_INUSE: the card is in use by at least one connection, possibly shared.
    public static let inUse = ReaderState(rawValue: 0x0100)
    /// SCARD_STATE_MUTE: a card is there but does not answer (no ATR); cardPresent counts it as absent.
    public static let mute = ReaderState(rawValue: 0x0200)
}

/// One reader's state as SCardGetStatusChange reported it.
public struct ReaderStatus: Sendable, Equatable {
    /// The PC/SC reader name as pcscd lists it.
    public let name: String
    /// The SCARD_STATE_* flags, without the event counter and SCARD_STATE_CHANGED.
    public let state: ReaderState
    /// The ATR of the card in the reader as pcscd reports it (at most 33 bytes).
    public let atr: [UInt8]
    /// The event counter pcsc-lite keeps in the upper 16 bits of the state (changes on every insertion/removal).
    public let eventCount: Int
    /// Whether a card that answers is in the field (SCARD_STATE_PRESENT and not SCARD_STATE_MUTE).
    public var cardPresent: Bool { state.contains(.present) && !state.contains(.mute) }
}

/// One PC/SC context (SCardEstablishContext, system scope). Thread-safe: pcsc-lite allows one context to be used
/// from several threads, and SCardCancel is the documented way to interrupt a wait from another thread.
public final class PCSCContext: @unchecked Sendable {
    /// The "\\?PnP?\Notification" pseudo-reader: its state changes when a reader is attached or removed.
    public static let plugAndPlayReader = "\\\\?PnP?\\Notification"

    let handle: SCARDCONTEXT
    let queue = DispatchQueue(label: "tapd.pcsc.context")

    /// Establishes a system-scope context with pcscd (SCardEstablishContext); throws PCSCError, e.g. SCARD_E_NO_SERVICE
    /// when pcscd cannot be reached.
    public init() throws {
        var h: SCARDCONTEXT = 0
        let rv = Int(SCardEstablishContext(DWORD(2) /* SCARD_SCOPE_SYSTEM */, nil, nil, &h))
        guard rv == PCSCCode.success else { throw PCSCError(call: "SCardEstablishContext", code: rv) }
        handle = h
    }

    deinit { SCardReleaseContext(handle) }

    /// The attached readers; none is an empty list, not an error.
    public func readers() throws -> [String] {
        var size: DWORD = 0
        var rv = Int(SCardListReaders(handle, nil, nil, &size))
        if rv == PCSCCode.noReadersAvailable { return [] }
        guard rv == PCSCCode.success else { throw PCSCError(call: "SCardListReaders", code: rv) }
        guard size > 0, size < 65_536 else { return [] }
        var buf = [CChar](repeating: 0, count: Int(size))
        rv = Int(SCardListReaders(handle, nil, &buf, &size))
        if rv == PCSCCode.noReadersAvailable { return [] }
        guard rv == PCSCCode.success else { throw PCSCError(call: "SCardListReaders", code: rv) }
        // A multi-string: names separated by NUL, ended by an empty name.
        return buf.prefix(Int(size)).split(separator: 0).map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Blocks (on the context's queue) until the state of one of `readers` differs from `known`, or `timeout`
    /// passes; returns the new states. No polling: pcscd wakes the call.
    public func waitForChange(_ known: [String: ReaderStatus], readers: [String], timeout: Duration) async throws
        -> [ReaderStatus]
    {
        let ms = DWORD(
            max(0, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        let handle = self.handle
        return try await queue.perform {
            let names = readers.map { strdup($0) }
            defer { names.forEach { free($0) } }
            var states = names.enumerated().map { i, n -> SCARD_READERSTATE in
                var s = SCARD_READERSTATE()
                s.szReader = UnsafePointer(n)
                if let k = known[readers[i]] { s.dwCurrentState = DWORD(k.state.rawValue) | DWORD(k.eventCount << 16) }
                return s
            }
            let rv = Int(SCardGetStatusChange(handle, ms, &states, DWORD(states.count)))
            if rv != PCSCCode.success && rv != PCSCCode.timeout {
                throw PCSCError(call: "SCardGetStatusChange", code: rv)
            }
            return states.enumerated().map { i, s in
                let atrLength = min(Int(s.cbAtr), 33)
                let atr = withUnsafeBytes(of: s.rgbAtr) { Array($0.prefix(atrLength)) }
                return ReaderStatus(
                    name: readers[i],
                    state: ReaderState(rawValue: UInt(s.dwEventState) & 0xFFFF & ~ReaderState.changed.rawValue),
                    atr: atr, eventCount: Int((UInt(s.dwEventState) >> 16) & 0xFFFF))
            }
        }
    }

    /// Interrupts a waitForChange in progress (it throws SCARD_E_CANCELLED).
    public func cancel() { SCardCancel(handle) }
}

/// A card or phone on a PC/SC reader, as the kernels see it (APDU.CardChannel).
public final class PCSCCard: CardChannel, @unchecked Sendable {
    /// The PC/SC name of the reader the card is on.
    public let reader: String
    /// The ATR pcscd read when it powered the card up (a pseudo-ATR on contactless readers), fetched with SCardStatus
    /// right after connecting.
    public let atr: [UInt8]
    let context: PCSCContext
    let handle: SCARDHANDLE
    let activeProtocol: DWORD
    /// Where this card's APDUs are sent from (see ReaderExecutor).
    public let executor: ReaderExecutor
    private let lock = NSLock()
    private var disconnected = false

    /// Connects to the card on `reader` (T=1, or T=0|T=1 as the card offers), shared or exclusive; `direct` reaches
    /// the reader itself with no card (SCARD_SHARE_DIRECT, for escape commands such as LEDs and buzzer).
    public init(context: PCSCContext, reader: String, exclusive: Bool = false, direct: Bool = false) throws {
        self.context = context
        self.reader = reader
        var h: SCARDHANDLE = 0
        var proto: DWORD = 0
        let rv = Int(
            SCardConnect(
                context.handle, reader, DWORD(direct ? 3 : exclusive ? 1 : 2), DWORD(direct ? 0 : 1 | 2), &h, &proto))
        guard rv == PCSCCode.success else { throw PCSCCard.error("SCardConnect", rv) }
        handle = h
        activeProtocol = proto
        executor = ReaderExecutor(label: "tapd.pcsc.card")
        // SCardStatus for the ATR pcscd read at power-up.
        var atrBuf = [UInt8](repeating: 0, count: 33)
        var atrLen = DWORD(33)
        var state: DWORD = 0
        var p: DWORD = 0
        var nameLen: DWORD = 0
        _ = SCardStatus(h, nil, &nameLen, &state, &p, &atrBuf, &atrLen)
        atr = Array(atrBuf.prefix(min(Int(atrLen), 33)))
    }

    deinit { disconnect() }

    /// Ends the connection (SCardDisconnect), leaving the card powered, or resetting it when `reset` is true; later
    /// calls do nothing.
    public func disconnect(reset: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        guard !disconnected else { return }
        disconnected = true
        SCardDisconnect(handle, DWORD(reset ? 1 : 0))
    }

    static func error(_ call: String, _ rv: Int) -> any Error {
        switch rv {
        case PCSCCode.removedCard, PCSCCode.noSmartcard, PCSCCode.resetCard, PCSCCode.notTransacted:
            CardError.cardRemoved
        default: CardError.transport(PCSCError(call: call, code: rv).description)
        }
    }

    /// Sends one C-APDU (short or extended, up to 65,544 bytes) and returns the R-APDU. A response shorter than SW1
    /// SW2 means the card left mid-exchange (vpcd returns success with 0 bytes): card removed, never a hang.
    public func transmit(_ command: [UInt8]) async throws -> [UInt8] {
        guard command.count >= 4, command.count <= 65_544 else {
            throw CardError.transport("C-APDU of \(command.count) bytes")
        }
        let handle = self.handle
        let proto = self.activeProtocol
        return try await executor.perform {
            var pci = SCARD_IO_REQUEST(dwProtocol: proto, cbPciLength: DWORD(MemoryLayout<SCARD_IO_REQUEST>.size))
            var rv = 0
            // Room for the largest extended response, left uninitialised (zeroing 64 KiB per APDU is measurable).
            let response = [UInt8](unsafeUninitializedCapacity: 65_538) { buf, count in
                var length = DWORD(buf.count)
                rv = Int(
                    command.withUnsafeBufferPointer { c in
                        SCardTransmit(handle, &pci, c.baseAddress, DWORD(c.count), nil, buf.baseAddress, &length)
                    })
                count = rv == PCSCCode.success ? min(Int(length), buf.count) : 0
            }
            guard rv == PCSCCode.success else { throw PCSCCard.error("SCardTransmit", rv) }
            guard response.count >= 2 else { throw CardError.cardRemoved }
            return response
        }
    }
}

/// The thread a reader's blocking calls run on — and, when a transaction asks for it with
/// `withTaskExecutorPreference(executor)`, the thread the kernel itself runs on: then each APDU is a direct call into
/// the stack with no hop between threads (the reader's own thread blocks, never Swift's cooperative pool).
public final class ReaderExecutor: TaskExecutor, @unchecked Sendable {
    /// The serial queue that runs the reader's blocking calls and the jobs enqueued on this executor.
    public let queue: DispatchQueue
    private let token: Int
    private static let key = DispatchSpecificKey<Int>()
    private static let counter = NSLock()
    nonisolated(unsafe) private static var next = 1

    /// Creates the executor on a new serial dispatch queue named `label`.
    public init(label: String) {
        queue = DispatchQueue(label: label)
        token = ReaderExecutor.counter.withLock {
            defer { ReaderExecutor.next += 1 }
            return ReaderExecutor.next
        }
        queue.setSpecific(key: ReaderExecutor.key, value: token)
    }

    /// Runs a job of a task that prefers this executor asynchronously on its queue (TaskExecutor).
    public func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        let me = asUnownedTaskExecutor()
        queue.async { j.runSynchronously(on: me) }
    }

    /// Whether the caller already runs on this executor's queue.
    public var isCurrent: Bool { DispatchQueue.getSpecific(key: ReaderExecutor.key) == token }

    /// Runs a blocking call here: inline when already here, else on the queue, resuming the caller afterwards.
    func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        if isCurrent { return try work() }
        return try await queue.perform(work)
    }
}

extension DispatchQueue {
    /// Runs a blocking PC/SC call on this queue and resumes the caller with its result, so the call never blocks a
    /// thread of Swift's cooperative pool.
    func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { k in self.async { k.resume(with: Result { try work() }) } }
    }
}
