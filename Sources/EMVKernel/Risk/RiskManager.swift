// Terminal risk management beyond the floor limit (EMV Book 3 §10.6): the terminal exception file, kept as
// salted hashes so the file never holds a PAN, and a velocity check (taps per card per hour) that raises an
// alert for the operator. Card identities in memory are salted hashes too.

import EMVCrypto
import Foundation
import TLV

/// Book 3 §10.6.1: PANs the terminal must not accept offline, stored as SHA-256(salt ‖ PAN digits).
///
/// File format (one entry per line, `#` comments):
/// ```
/// salt 00112233445566778899AABBCCDDEEFF
/// 5D41402ABC4B2A76B9719D911017C592...   optional comment
/// ```
/// `tapctl exception-file hash PAN --salt HEX` prints the line for a PAN.
public struct ExceptionFile: Sendable {
    public let salt: [UInt8]
    public private(set) var hashes: Set<[UInt8]> = []

    public init(salt: [UInt8], pans: [String] = []) {
        self.salt = salt
        for p in pans { hashes.insert(Self.hash(pan: p, salt: salt)) }
    }

    public static func hash(pan: String, salt: [UInt8]) -> [UInt8] {
        Digest.sha256(salt + Array(pan.utf8))
    }

    public func contains(pan: String) -> Bool { hashes.contains(Self.hash(pan: pan, salt: salt)) }

    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public let line: Int
        public let message: String
        public var description: String { "exception file line \(line): \(message)" }
    }

    public init(text: String) throws {
        var salt: [UInt8]? = nil
        var hashes: Set<[UInt8]> = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = raw.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            let f = t.split(separator: " ").map(String.init)
            if f[0] == "salt" {
                guard salt == nil, f.count >= 2, let s = [UInt8](hex: f[1]), s.count >= 16 else {
                    throw FormatError(line: n + 1, message: "one salt line of at least 16 bytes of hex is required")
                }
                salt = s
                continue
            }
            guard let h = [UInt8](hex: f[0]), h.count == 32 else {
                throw FormatError(line: n + 1, message: "expected a SHA-256 hash (32 bytes of hex)")
            }
            hashes.insert(h)
        }
        guard let salt else { throw FormatError(line: 0, message: "no salt line") }
        self.salt = salt
        self.hashes = hashes
    }
}

/// Shared risk state across transactions: the exception file and the velocity counters.
public actor RiskManager {
    /// The exception file in force; the risk team replaces it while tapd runs (`replaceExceptionFile`).
    public nonisolated var exceptionFile: ExceptionFile? { exceptionBox.value }
    private let exceptionBox: ExceptionFileBox
    public private(set) var maxTapsPerHour: Int?
    private let salt = secureRandomBytes(16)
    private var taps: [[UInt8]: [Date]] = [:]
    private let now: @Sendable () -> Date

    public init(
        exceptionFile: ExceptionFile? = nil, maxTapsPerHour: Int? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.exceptionBox = ExceptionFileBox(exceptionFile)
        self.maxTapsPerHour = maxTapsPerHour
        self.now = now
    }

    public nonisolated func isOnExceptionFile(pan: String) -> Bool { exceptionFile?.contains(pan: pan) ?? false }

    /// A new velocity limit (a reload); the taps counted so far still count.
    public func setMaxTapsPerHour(_ limit: Int?) { maxTapsPerHour = limit }

    /// Puts `file` in force from the next card on (a card being read keeps the answer it already had).
    public nonisolated func replaceExceptionFile(_ file: ExceptionFile?) { exceptionBox.value = file }

    /// Records one tap of the card and returns an alert when it exceeds the hourly limit.
    public func recordTap(pan: String) -> RiskAlert? {
        guard let limit = maxTapsPerHour else { return nil }
        let key = Digest.sha256(salt + Array(pan.utf8))
        let t = now()
        var list = (taps[key] ?? []).filter { t.timeIntervalSince($0) < 3600 }
        list.append(t)
        taps[key] = list
        // Bound memory: forget cards not seen within the hour.
        if taps.count > 10_000 {
            taps = taps.filter { !$0.value.isEmpty && t.timeIntervalSince($0.value.last!) < 3600 }
        }
        guard list.count > limit else { return nil }
        return RiskAlert(
            kind: .velocity,
            message: "card \(CardDataMask.pan(pan)) tapped \(list.count) times within an hour (limit \(limit))")
    }
}

/// The exception file behind a lock: read by the kernels synchronously, replaced by the risk team at any time.
final class ExceptionFileBox: @unchecked Sendable {
    private let lock = NSLock()
    private var file: ExceptionFile?
    init(_ file: ExceptionFile?) { self.file = file }
    var value: ExceptionFile? {
        get { lock.withLock { file } }
        set { lock.withLock { file = newValue } }
    }
}
