// A PN532 behind a UART, emulated on a pseudo-terminal, so tests and the demo run real libnfc (driver pn532_uart)
// with no hardware: `nfc_open("pn532_uart:<devicePath>")`. The emulator is the chip side of the HSU link described
// in the PN532 User Manual (UM0701-02) §6.2:
//  - frames `00 00 FF LEN LCS D4 CC data DCS 00` (extended: `00 00 FF FF FF LENm LENl LCS …`), checksums checked;
//  - every accepted frame is ACKed (`00 00 FF 00 FF 00`) before its answer; an ACK from the host aborts;
//  - the wake-up preamble (`55 55 00 …`) is skipped; unknown commands get the syntax-error frame;
//  - InListPassiveTarget (106 kbps type A) reports the virtual card as an ISO 14443-4 target with its ATS, and
//    InDataExchange routes C-APDUs to it (easy framing: the chip does ISO-DEP itself).
// Personas: no card at all, a card that leaves after N exchanges (the chip then reports status 0x01, "target did not
// answer"), a phone that holds its GPO answer for hundreds of milliseconds (the chip keeps the link alive with WTX).
// Test and demo code only.

import APDU
import Dispatch
import Foundation

/// A PN532 behind a UART, emulated on a pseudo-terminal so that libnfc's pn532_uart driver reaches a
/// virtual card (test and demo only).
public final class PN532Emulator: @unchecked Sendable {
    /// How the card in the field behaves: normally, leaving after some exchanges, or slow to answer GPO.
    public enum Persona: Sendable, Equatable {
        case normal
        /// Answers the first `n` C-APDUs, then the card is gone (InDataExchange status 0x01, no target on polls).
        case vanishAfter(Int)
        /// Holds every answer to GET PROCESSING OPTIONS this long.
        case slowGPO(milliseconds: Int)
    }

    /// GetFirmwareVersion answer: IC 0x32 (PN532), version 1.6, support 0x07 (UM0701-02 §7.2.2).
    public static let firmware: [UInt8] = [0x32, 0x01, 0x06, 0x07]
    /// ATS of the emulated target: TL 05, T0 78 (FSCI 8: 256 bytes; TA, TB, TC follow), TA 80, TB 70 (FWI 7, SFGI 0),
    /// TC 02 (CID supported).
    public static let defaultATS: [UInt8] = [0x05, 0x78, 0x80, 0x70, 0x02]

    /// The slave side of the pseudo-terminal: what libnfc opens.
    public let devicePath: String
    /// The libnfc connection string that opens the emulator: "pn532_uart:" and `devicePath`.
    public var connstring: String { "pn532_uart:\(devicePath)" }

    private let master: Int32
    private let slaveKeeper: Int32  // keeps the pty alive between libnfc's opens and closes
    private let wake: [Int32]  // pipe that interrupts poll() on stop
    private let lock = NSLock()
    private var card: (any CardChannel)?
    private var ats: [UInt8] = PN532Emulator.defaultATS
    private var uid: [UInt8] = [0x08, 0x12, 0x34, 0x56]
    private var persona: Persona = .normal
    private var answered = 0
    private var gone = false
    private var selected = false
    private var registers: [UInt16: UInt8] = [0x633C: 0x10]
    private var log: [UInt8] = []
    private var running = true
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// Why the emulator could not set up its pseudo-terminal.
    public struct EmulatorError: Error, CustomStringConvertible {
        /// What failed, in words.
        public let description: String
    }

    /// Opens a pseudo-terminal and starts answering on it with the field empty; throws if the pseudo-terminal
    /// cannot be set up.
    public init() throws {
        // posix_openpt/unlockpt/ptsname by hand (Glibc's module hides them): /dev/ptmx, TIOCSPTLCK 0, TIOCGPTN.
        let m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard m >= 0 else { throw EmulatorError(description: "no pseudo-terminal: errno \(errno)") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(m, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0, ioctl(m, 0x8004_5430 /* TIOCGPTN */, &number) == 0
        else {
            Glibc.close(m)
            throw EmulatorError(description: "pty setup: errno \(errno)")
        }
        devicePath = "/dev/pts/\(number)"
        let s = open(devicePath, O_RDWR | O_NOCTTY)
        guard s >= 0 else {
            Glibc.close(m)
            throw EmulatorError(description: "open \(devicePath): errno \(errno)")
        }
        var t = termios()
        tcgetattr(s, &t)
        cfmakeraw(&t)
        tcsetattr(s, TCSANOW, &t)
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else {
            Glibc.close(m)
            Glibc.close(s)
            throw EmulatorError(description: "pipe: errno \(errno)")
        }
        master = m
        slaveKeeper = s
        wake = p
        let t2 = Thread { [unowned self] in
            self.loop()
            self.finished.signal()
        }
        t2.name = "tapd.pn532.emulator"
        thread = t2
        t2.start()
    }

    deinit { stop() }

    /// Puts a card (or phone) in the field; `nil` empties it. Each tap gets a fresh random UID, as phones do.
    public func present(_ card: (any CardChannel)?, persona: Persona = .normal, ats: [UInt8] = PN532Emulator.defaultATS)
    {
        lock.lock()
        defer { lock.unlock() }
        self.card = card
        self.persona = persona
        self.ats = ats
        answered = 0
        gone = card == nil
        selected = false
        uid = [0x08] + (0..<3).map { _ in UInt8.random(in: 0...255) }
    }

    /// The command codes received so far (for tests: which parts of the sequence libnfc used).
    public var commands: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return log
    }

    /// Stops answering and closes the pseudo-terminal; calling it again does nothing.
    public func stop() {
        lock.lock()
        let wasRunning = running
        running = false
        lock.unlock()
        guard wasRunning else { return }
        var b: UInt8 = 1
        _ = Glibc.write(wake[1], &b, 1)
        finished.wait()
        Glibc.close(master)
        Glibc.close(slaveKeeper)
        Glibc.close(wake[0])
        Glibc.close(wake[1])
    }

    // MARK: - The link

    private var input: [UInt8] = []

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            var fds = [
                pollfd(fd: master, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0),
            ]
            let r = poll(&fds, 2, 1000)
            lock.lock()
            let go = running
            lock.unlock()
            guard go else { return }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { continue }
            if fds[1].revents != 0 { return }
            let n = read(master, &buf, buf.count)
            if n <= 0 {
                // EIO while no one else has the slave open cannot happen (slaveKeeper); anything else: retry later.
                if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                usleep(10_000)
                continue
            }
            input += buf.prefix(n)
            processInput()
        }
    }

    /// Takes every complete frame from `input` and answers it.
    private func processInput() {
        while true {
            // Resynchronise on the start code 00 FF (skips the wake-up preamble and line noise).
            guard let start = firstStartCode() else {
                input = input.suffix(1).filter { $0 == 0x00 }
                return
            }
            if start > 0 { input.removeFirst(start) }
            // input[0] = 00, input[1] = FF
            guard input.count >= 4 else { return }
            if input[2] == 0x00, input[3] == 0xFF {  // ACK from the host: abort
                input.removeFirst(min(5, input.count))
                continue
            }
            if input[2] == 0xFF, input[3] == 0x00 {
                input.removeFirst(min(5, input.count))
                continue
            }  // NACK
            var length: Int
            var header: Int
            if input[2] == 0xFF, input[3] == 0xFF {  // extended frame
                guard input.count >= 7 else { return }
                length = Int(input[4]) << 8 | Int(input[5])
                header = 7
                guard (Int(input[4]) + Int(input[5]) + Int(input[6])) & 0xFF == 0 else {
                    input.removeFirst(2)
                    continue
                }
            } else {
                length = Int(input[2])
                header = 4
                guard (Int(input[2]) + Int(input[3])) & 0xFF == 0 else {
                    input.removeFirst(2)
                    continue
                }
            }
            guard input.count >= header + length + 1 else { return }
            let body = Array(input[header..<(header + length)])
            let dcs = input[header + length]
            input.removeFirst(min(input.count, header + length + 2))  // + DCS + postamble
            guard body.reduce(UInt8(0), &+) &+ dcs == 0 else { continue }  // bad DCS: a real chip stays silent
            send([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])  // ACK
            guard body.count >= 2, body[0] == 0xD4 else {
                sendErrorFrame()
                continue
            }
            lock.lock()
            log.append(body[1])
            lock.unlock()
            if let answer = handle(command: body[1], Array(body.dropFirst(2))) {
                sendFrame([0xD5, body[1] &+ 1] + answer)
            } else {
                sendErrorFrame()
            }
        }
    }

    private func firstStartCode() -> Int? {
        guard input.count >= 2 else { return nil }
        for i in 0..<(input.count - 1) where input[i] == 0x00 && input[i + 1] == 0xFF { return i }
        return nil
    }

    // MARK: - Commands (UM0701-02 §7)

    private func handle(command: UInt8, _ p: [UInt8]) -> [UInt8]? {
        switch command {
        case 0x00: return p  // Diagnose: echo (communication test)
        case 0x02: return Self.firmware  // GetFirmwareVersion
        case 0x04: return [0x00, 0x00, 0x00]  // GetGeneralStatus
        case 0x06:  // ReadRegister: one byte per address
            guard p.count % 2 == 0 else { return nil }
            lock.lock()
            defer { lock.unlock() }
            return stride(from: 0, to: p.count, by: 2).map { registers[UInt16(p[$0]) << 8 | UInt16(p[$0 + 1])] ?? 0 }
        case 0x08:  // WriteRegister: address, value …
            guard p.count % 3 == 0 else { return nil }
            lock.lock()
            defer { lock.unlock() }
            for i in stride(from: 0, to: p.count, by: 3) { registers[UInt16(p[i]) << 8 | UInt16(p[i + 1])] = p[i + 2] }
            return []
        case 0x12, 0x14, 0x32: return []  // SetParameters, SAMConfiguration, RFConfiguration
        case 0x16: return [0x00]  // PowerDown
        case 0x4A: return listPassiveTarget(p)
        case 0x60: return autoPoll()
        case 0x40: return dataExchange(p)
        case 0x42: return communicateThru(p)
        case 0x44, 0x52:  // InDeselect, InRelease
            lock.lock()
            selected = false
            lock.unlock()
            return [0x00]
        default: return nil
        }
    }

    /// The target record after Tg: SENS_RES, SEL_RES 0x20 (ISO 14443-4), NFCID1 and the ATS (UM0701-02 §7.3.5).
    private func targetRecord() -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        guard card != nil, !gone else { return nil }
        selected = true
        return [0x00, 0x04, 0x20, UInt8(uid.count)] + uid + ats
    }

    private func listPassiveTarget(_ p: [UInt8]) -> [UInt8]? {
        guard p.count >= 2 else { return nil }
        // BrTy 0x00 = 106 kbps type A; the virtual cards are type A only, so B, FeliCa and Jewel find nothing.
        guard p[1] == 0x00, let t = targetRecord() else { return [0x00] }
        return [0x01, 0x01] + t
    }

    private func autoPoll() -> [UInt8] {
        guard let t = targetRecord() else { return [0x00] }
        return [0x01, 0x20, UInt8(1 + t.count), 0x01] + t  // Type 0x20: ISO 14443-4A, 106 kbps
    }

    private func dataExchange(_ p: [UInt8]) -> [UInt8]? {
        guard !p.isEmpty else { return nil }
        lock.lock()
        let card = self.card
        let persona = self.persona
        var leave = gone || !selected || card == nil
        if case .vanishAfter(let n) = persona, answered >= n {
            gone = true
            leave = true
        }
        lock.unlock()
        guard !leave, let card else { return [0x01] }  // status 0x01: target did not answer
        let apdu = Array(p.dropFirst())
        if case .slowGPO(let ms) = persona, apdu.count >= 2, apdu[1] == 0xA8 { usleep(UInt32(ms) * 1000) }
        let response = Self.blocking { (try? await card.transmit(apdu)) ?? [0x6F, 0x00] }
        lock.lock()
        answered += 1
        lock.unlock()
        // One frame carries at most 264 bytes after TFI (UM0701-02 §6.2.1.3); the cards here never answer more.
        guard response.count <= 261 else { return [0x01] }
        return [0x00] + response
    }

    /// InCommunicateThru: libnfc's presence check sends an R(NAK) block (B2/B3); a present card answers R(ACK).
    private func communicateThru(_ p: [UInt8]) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        guard card != nil, !gone, selected, let pcb = p.first, pcb & 0xF6 == 0xB2 else { return [0x01] }
        return [0x00, 0xA2 | (pcb & 0x01)]
    }

    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    // MARK: - Output

    private func sendFrame(_ body: [UInt8]) {
        let dcs = UInt8(0) &- body.reduce(UInt8(0), &+)
        if body.count <= 255 {
            let len = UInt8(body.count)
            send([0x00, 0x00, 0xFF, len, 0 &- len] + body + [dcs, 0x00])
        } else {
            let hi = UInt8(body.count >> 8)
            let lo = UInt8(body.count & 0xFF)
            send([0x00, 0x00, 0xFF, 0xFF, 0xFF, hi, lo, 0 &- (hi &+ lo)] + body + [dcs, 0x00])
        }
    }

    /// The syntax-error frame (UM0701-02 §6.2.1.5).
    private func sendErrorFrame() { send([0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00]) }

    private func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let r = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress! + sent, bytes.count - sent) }
            if r < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            sent += r
        }
    }
}

private final class ResultBox<T>: @unchecked Sendable { var value: T? }
