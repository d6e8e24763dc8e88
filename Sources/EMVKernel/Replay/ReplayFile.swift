// The trace format of `tapctl replay` and of tapd's transaction traces (kernels issue, "tapctl replay FILE"):
//
// {
//   "description": "free text (optional)",
//   "terminal": { "<tag hex>": "<value hex>", ... },     optional overrides of terminal data for this run
//   "capks": [ { "rid": "A000000003", "index": "92", "exponent": "03", "modulus": "<hex>" } ],   optional
//            (an SM2 CA key: "exponent": "SM2", "modulus": the point X ‖ Y)
//   "exchanges": [ { "command": "<C-APDU hex>", "response": "<R-APDU hex incl. SW1 SW2>" }, ... ]
// }
// An exchange whose answer never arrived intact has "error" ("transmission", "timeout" or "removed") instead of a
// response; "note" says where an exchange came from when it is not plain (an inferred command, a lost frame).

import APDU
import Foundation
import TLV

public struct ReplayFile: Codable, Sendable {
    public struct CAPK: Codable, Sendable {
        public var rid: String
        public var index: String
        public var exponent: String
        public var modulus: String
        public init(rid: String, index: String, exponent: String, modulus: String) {
            self.rid = rid
            self.index = index
            self.exponent = exponent
            self.modulus = modulus
        }
    }
    public struct Exchange: Codable, Sendable {
        public var command: String
        public var response: String?
        /// The card's answer did not arrive: "transmission" (ISO/IEC 14443 transmission error), "timeout", "removed".
        public var error: String?
        public var note: String?
        public init(command: String, response: String? = nil, error: String? = nil, note: String? = nil) {
            self.command = command
            self.response = response
            self.error = error
            self.note = note
        }

        /// The card-side fault an `error` names.
        var cardError: CardError? {
            switch error {
            case "transmission"?: return .transport("transmission error (recorded)")
            case "timeout"?: return .timeout
            case "removed"?: return .cardRemoved
            default: return nil
            }
        }
    }

    public var description: String?
    public var terminal: [String: String]?
    public var capks: [CAPK]?
    public var exchanges: [Exchange]
    /// The R-APDU (hex) the recording's card gives to a command it has no exchange for; 6D00 when absent.
    public var unmatchedResponse: String?

    enum CodingKeys: String, CodingKey {
        case description, terminal, capks, exchanges
        case unmatchedResponse = "unmatched_response"
    }

    public init(
        description: String? = nil, terminal: [String: String]? = nil, capks: [CAPK]? = nil, exchanges: [Exchange],
        unmatchedResponse: String? = nil
    ) {
        self.description = description
        self.terminal = terminal
        self.capks = capks
        self.exchanges = exchanges
        self.unmatchedResponse = unmatchedResponse
    }

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Parses and validates a file: every hex field must be hex, tags must be tags, APDUs at least 4 / 2 bytes.
    public static func load(_ data: Data) throws -> ReplayFile {
        let f: ReplayFile
        do { f = try JSONDecoder().decode(ReplayFile.self, from: data) } catch {
            throw Invalid(description: "not a replay file: \(error)")
        }
        for (i, e) in f.exchanges.enumerated() {
            guard let c = [UInt8](hex: e.command), c.count >= 4 else {
                throw Invalid(description: "exchanges[\(i)].command is not a C-APDU in hex")
            }
            if e.error != nil {
                guard e.cardError != nil else {
                    throw Invalid(description: "exchanges[\(i)].error must be transmission, timeout or removed")
                }
                continue
            }
            guard let r = e.response.flatMap({ [UInt8](hex: $0) }), r.count >= 2 else {
                throw Invalid(description: "exchanges[\(i)].response is not an R-APDU in hex (SW1 SW2 included)")
            }
            _ = (c, r)
        }
        _ = try f.terminalOverrides()
        if let u = f.unmatchedResponse, ([UInt8](hex: u)?.count ?? 0) < 2 {
            throw Invalid(description: "unmatched_response is not an R-APDU in hex")
        }
        for (i, k) in (f.capks ?? []).enumerated() {
            guard let rid = [UInt8](hex: k.rid), rid.count == 5, let idx = [UInt8](hex: k.index), idx.count == 1,
                k.exponent.uppercased() == "SM2" || !([UInt8](hex: k.exponent) ?? []).isEmpty,
                let m = [UInt8](hex: k.modulus), !m.isEmpty, k.exponent.uppercased() != "SM2" || m.count == 64
            else {
                throw Invalid(
                    description:
                        "capks[\(i)] needs rid (5 bytes), index (1 byte), exponent and modulus in hex (exponent SM2 and the 64-byte point for an SM2 key)"
                )
            }
        }
        return f
    }

    public func terminalOverrides() throws -> [Tag: [UInt8]] {
        var out: [Tag: [UInt8]] = [:]
        for (k, v) in terminal ?? [:] {
            guard let tb = [UInt8](hex: k), let tag = Tag(bytes: tb) else {
                throw Invalid(description: "terminal key \"\(k)\" is not a tag")
            }
            guard let value = [UInt8](hex: v) else { throw Invalid(description: "terminal[\(k)] is not hex") }
            out[tag] = value
        }
        return out
    }

    public var scriptedExchanges: [ScriptedExchange] {
        exchanges.map { e in
            let command = [UInt8](hex: e.command) ?? []
            if let error = e.cardError { return ScriptedExchange(command: command, error: error) }
            return ScriptedExchange(command: command, response: e.response.flatMap { [UInt8](hex: $0) } ?? [])
        }
    }

    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }
}

/// Makes traces safe to keep: PAN, track data and cardholder names in responses are overwritten in place
/// (same lengths, so the trace still parses): PAN digits between the first 6 and the last 4 become 0, track
/// discretionary data becomes 0, names become spaces.
public enum TraceRedaction {
    public static func redact(response: [UInt8]) -> [UInt8] {
        guard response.count >= 2 else { return response }
        var out = response
        redact(&out, Array(response.dropLast(2))[...], base: 0)
        return out
    }

    static func redact(_ out: inout [UInt8], _ region: ArraySlice<UInt8>, base: Int, depth: Int = 0) {
        guard depth < TLVParser.maxDepth, let objects = try? TLVParser.rawObjects(region) else { return }
        for (tag, enc) in objects {
            guard let len = valueLength(enc) else { continue }
            let valueRange = (enc.endIndex - len)..<enc.endIndex
            if tag.isConstructed {
                redact(&out, region[valueRange], base: base, depth: depth + 1)
            } else if tag == 0x5A {
                maskDigits(&out, valueRange, keepFirst: 6, keepLast: 4, stopAtSeparator: false)
            } else if tag == 0x57 || tag == 0x9F6B {
                maskDigits(&out, valueRange, keepFirst: 6, keepLast: 4, stopAtSeparator: true)
            } else if [0x56, 0x9F1F, 0x9F20, 0x5F20, 0x9F0B].contains(tag) {
                for i in valueRange { out[i] = tag == 0x9F20 ? 0x00 : 0x20 }
            }
        }
    }

    static func valueLength(_ enc: ArraySlice<UInt8>) -> Int? {
        var i = enc.startIndex
        guard (try? TLVParser.tag(in: enc, at: &i)) != nil, let l = try? TLVParser.length(in: enc, at: &i) else {
            return nil
        }
        return l
    }

    /// Zeroes PAN digits between the first `keepFirst` and the last `keepLast`; for track 2 the PAN ends at the
    /// D separator and everything after the expiry and service code (discretionary data) is zeroed too.
    static func maskDigits(_ out: inout [UInt8], _ r: Range<Int>, keepFirst: Int, keepLast: Int, stopAtSeparator: Bool)
    {
        var nibbles: [UInt8] = []
        for i in r {
            nibbles.append(out[i] >> 4)
            nibbles.append(out[i] & 0x0F)
        }
        let panEnd =
            stopAtSeparator
            ? (nibbles.firstIndex(of: 0x0D) ?? nibbles.count) : (nibbles.firstIndex(of: 0x0F) ?? nibbles.count)
        if panEnd > keepFirst + keepLast { for k in keepFirst..<(panEnd - keepLast) { nibbles[k] = 0 } }
        if stopAtSeparator, panEnd < nibbles.count {
            let discretionaryStart = panEnd + 1 + 4 + 3
            for k in discretionaryStart..<nibbles.count where nibbles[k] != 0x0F { nibbles[k] = 0 }
        }
        for (j, i) in r.enumerated() { out[i] = nibbles[2 * j] << 4 | nibbles[2 * j + 1] }
    }
}
