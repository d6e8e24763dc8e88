// Serves a software card to a real pcscd through the vpcd driver (vsmartcard's ifd-vpcd): the bridge is the
// "virtual ICC" side. vpcd listens (127.0.0.1:35963 for slot 0); the bridge connects, and then both directions
// carry a 2-byte big-endian length and that many bytes. A 1-byte message is a control command: 00 power off,
// 01 power on, 02 reset, 04 get ATR (answered with the ATR; pcscd polls it about every 400 ms as its presence
// check). Anything longer is a C-APDU, answered with the R-APDU. Closing the socket is "card removed".
// Test and demo code: vpcd must never be installed on a production terminal (it listens on all interfaces).

import APDU
import Dispatch
import Foundation

/// Serves a virtual card to pcscd through the vpcd driver, as the card side of vpcd's socket (test and demo only).
public final class VPCDBridge: @unchecked Sendable {
    /// How the card behaves towards pcscd: normally, vanishing mid-sale, or slow to answer GPO.
    public enum Persona: Sendable, Equatable {
        case normal
        /// Answers the first `n` C-APDUs, then drops the connection while pcscd waits for the next answer.
        case vanishAfter(Int)
        /// Holds every answer to GET PROCESSING OPTIONS this long (a phone waiting for the cardholder).
        case slowGPO(milliseconds: Int)
    }

    /// A contactless-style ATR (PC/SC Part 3 pseudo-ATR for an ISO 14443-4 card).
    public static let contactlessATR: [UInt8] = [
        0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06,
        0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x68,
    ]

    let card: any CardChannel
    let atr: [UInt8]
    let persona: Persona
    private let queue = DispatchQueue(label: "tapd.vpcd.bridge")
    private var fd: Int32 = -1

    /// A bridge for `card` that reports `atr` and behaves as `persona`; `connect` links it to vpcd.
    public init(card: any CardChannel, atr: [UInt8] = VPCDBridge.contactlessATR, persona: Persona = .normal) {
        self.card = card
        self.atr = atr
        self.persona = persona
    }

    /// Why the bridge failed: vpcd unreachable, a socket error, or an answer too long to frame.
    public struct BridgeError: Error, CustomStringConvertible {
        /// What failed, in words.
        public let description: String
    }

    /// Connects to vpcd at host:port, retrying for up to `patience` while pcscd starts.
    public func connect(host: String = "127.0.0.1", port: UInt16, patience: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + patience
        while true {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard s >= 0 else { throw BridgeError(description: "socket: errno \(errno)") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &addr.sin_addr)
            let rv = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Foundation.connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rv == 0 {
                var one: Int32 = 1
                setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                fd = s
                return
            }
            Glibc.close(s)
            guard ContinuousClock.now < deadline else {
                throw BridgeError(description: "vpcd at \(host):\(port) not reachable")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Serves until vpcd closes the connection (or the persona drops it). Returns how many C-APDUs were answered.
    @discardableResult
    public func serve() async throws -> Int {
        var answered = 0
        defer { close() }
        while let message = try await onQueue({ self.readMessage() }) {
            if message.count == 1 {
                if message[0] == 0x04 { try await onQueue { try self.write(self.atr) } }
                continue
            }
            if case .vanishAfter(let n) = persona, answered >= n { return answered }
            if case .slowGPO(let ms) = persona, message.count >= 2, message[1] == 0xA8 {
                try await Task.sleep(for: .milliseconds(ms))
            }
            let response: [UInt8]
            do { response = try await card.transmit(message) } catch { response = [0x6F, 0x00] }
            try await onQueue { try self.write(response) }
            answered += 1
        }
        return answered
    }

    /// Closes the connection to vpcd, which pcscd sees as the card removed; calling it again does nothing.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { k in queue.async { k.resume(with: Result { try work() }) } }
    }

    /// nil at end of stream.
    private func readMessage() -> [UInt8]? {
        guard let header = readExactly(2) else { return nil }
        let length = Int(header[0]) << 8 | Int(header[1])
        guard length > 0 else { return [] }
        return readExactly(length)
    }

    private func readExactly(_ n: Int) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            // Linux delayed ACKs stall every exchange by ~40 ms unless QUICKACK is re-armed before each receive.
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, n - got, 0) }
            if r <= 0 {
                if r < 0 && errno == EINTR { continue }
                return nil
            }
            got += r
        }
        return buf
    }

    private func write(_ payload: [UInt8]) throws {
        guard payload.count <= 0xFFFF else { throw BridgeError(description: "answer of \(payload.count) bytes") }
        let frame = [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
        var sent = 0
        while sent < frame.count {
            let r = frame.withUnsafeBytes { send(fd, $0.baseAddress! + sent, frame.count - sent, Int32(MSG_NOSIGNAL)) }
            if r < 0 {
                if errno == EINTR { continue }
                throw BridgeError(description: "send: errno \(errno)")
            }
            sent += r
        }
    }
}
