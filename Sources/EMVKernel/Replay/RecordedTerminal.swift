// What the terminal of a recorded conversation told the card, read back from the commands it sent: the PDOL related
// data of GET PROCESSING OPTIONS and the CDOL1 related data of the first GENERATE AC, split by the DOLs the card
// gave (Book 3 §5.4). Replaying a recording with the recorded terminal's amount, date, unpredictable number, TTQ,
// capabilities and terminal type lets the kernels take the decisions that terminal's data calls for, and lets the
// card's signatures (which cover some of those values) verify.
//
// Also reads the mock transcripts of MohamedHassanNasr/emv (`mock/*.json`: "randoms", "date", "time",
// "transaction-req" and "apdus": [{cmd, resp}]) into a replay file.

import APDU
import Foundation
import TLV

public enum RecordedTerminal {
    /// Data objects the kernel computes itself during the transaction; a recording's values for them are results to
    /// compare with, not inputs.
    static let computedByKernel: Set<Tag> = [0x95, 0x9F34, 0x9F4C, 0x9F45, 0x9B]

    /// Terminal-sourced data objects recovered from the recorded GPO and first GENERATE AC commands.
    public static func data(from exchanges: [ReplayFile.Exchange]) -> [Tag: [UInt8]] {
        var out: [Tag: [UInt8]] = [:]
        var pdol: DataObjectList? = nil
        var cdol1: DataObjectList? = nil
        var gpoSeen = false
        var genacSeen = false
        for e in exchanges {
            guard let c = [UInt8](hex: e.command).flatMap(CommandAPDU.init(bytes:)) else { continue }
            let r = e.response.flatMap { [UInt8](hex: $0) } ?? []
            let body = r.count >= 2 ? Array(r.dropLast(2)) : []
            let objects = TLVParser.parseLenient(body).objects
            var store = TLVStore()
            store.add(objects)
            switch (c.cla, c.ins) {
            case (0x00, 0xA4):
                // The application's FCI carries the PDOL (the PPSE's does not).
                if let p = store[0x9F38] { pdol = try? DataObjectList(parsing: p) }
            case (0x80, 0xA8) where !gpoSeen:
                gpoSeen = true
                guard let pdol, c.data.count >= 2, c.data[0] == 0x83 else { continue }
                var i = 1
                guard let len = try? TLVParser.length(in: c.data[...], at: &i), c.data.count - i == len,
                    let pairs = pdol.split(c.data[i...])
                else { continue }
                for (tag, value) in pairs where isTerminalInput(tag) { out[tag] = value }
            case (0x00, 0xB2):
                if let c1 = store[0x8C] { cdol1 = try? DataObjectList(parsing: c1) }
            case (0x80, 0xAE) where !genacSeen:
                genacSeen = true
                guard let cdol1, let pairs = cdol1.split(c.data) else { continue }
                for (tag, value) in pairs where isTerminalInput(tag) && out[tag] == nil { out[tag] = value }
            default:
                break
            }
        }
        return out
    }

    /// `data(from:)` as a replay file's "terminal" section (tag hex → value hex).
    public static func overrides(from exchanges: [ReplayFile.Exchange]) -> [String: String] {
        var out: [String: String] = [:]
        for (tag, value) in data(from: exchanges) { out[tag.hex] = Hex.encode(value) }
        return out
    }

    static func isTerminalInput(_ tag: Tag) -> Bool {
        guard !computedByKernel.contains(tag), let e = DataDictionary.element(tag) else { return false }
        return e.source == .terminal
    }
}

/// The mock transcripts of MohamedHassanNasr/emv (`mock/*.json`): recorded APDUs of cards with the terminal's
/// random number, date, time and transaction request.
public struct MockTranscript: Decodable, Sendable {
    public struct APDU: Decodable, Sendable {
        public var cmd: String
        public var resp: String
    }
    /// The answer to commands the transcript does not list.
    public var notFound: String?
    public var randoms: String?
    public var date: String?
    public var time: String?
    public var transactionRequest: String?
    public var apdus: [APDU]

    enum CodingKeys: String, CodingKey {
        case randoms, date, time, apdus
        case transactionRequest = "transaction-req"
        case notFound = "not-found"
    }

    /// Whether `data` is such a transcript (it has "apdus" rather than "exchanges").
    public static func matches(_ data: Data) -> Bool {
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return o["apdus"] != nil && o["exchanges"] == nil
    }

    /// The transcript as a replay file: its exchanges, and as terminal data the transaction request, date, time and
    /// random number, then whatever the recorded GPO and GENERATE AC commands carried.
    public func replayFile(description: String?) throws -> ReplayFile {
        let exchanges = apdus.map { ReplayFile.Exchange(command: $0.cmd, response: $0.resp) }
        var terminal = RecordedTerminal.overrides(from: exchanges)
        if let req = transactionRequest.flatMap({ [UInt8](hex: $0) }) {
            for o in TLVParser.parseLenient(req).objects where o.children.isEmpty {
                terminal[o.tag.hex] = Hex.encode(o.value)
            }
        }
        if let r = randoms { terminal["9F37"] = r }
        if let d = date { terminal["9A"] = d }
        if let t = time { terminal["9F21"] = t }
        return ReplayFile(
            description: description, terminal: terminal, exchanges: exchanges, unmatchedResponse: notFound)
    }
}

extension ReplayFile {
    /// Reads any recording tapd knows: a replay file (JSON), a Proxmark3 trace, or a MohamedHassanNasr/emv mock
    /// transcript. Terminal data a trace's commands carry become the replay's terminal data.
    /// - Throws: `ReplayFile.Invalid` when the bytes are none of these.
    public static func loadRecording(_ data: Data, name: String? = nil) throws -> ReplayFile {
        let bytes = [UInt8](data)
        if Proxmark3Trace.looksLikeTrace(bytes) {
            let exchanges = Proxmark3Trace.exchanges(bytes)
            guard !exchanges.isEmpty else {
                throw Invalid(description: "the Proxmark3 trace holds no ISO 14443-4 exchange")
            }
            return ReplayFile(
                description: name.map { "Proxmark3 trace \($0)" },
                terminal: RecordedTerminal.overrides(from: exchanges),
                exchanges: exchanges)
        }
        if MockTranscript.matches(data) {
            let t: MockTranscript
            do { t = try JSONDecoder().decode(MockTranscript.self, from: data) } catch {
                throw Invalid(description: "not a mock transcript: \(error)")
            }
            return try load(try t.replayFile(description: name.map { "mock transcript \($0)" }).encoded())
        }
        if let exchanges = hexLineExchanges(data) {
            return ReplayFile(
                description: name.map { "APDU transcript \($0)" },
                terminal: RecordedTerminal.overrides(from: exchanges),
                exchanges: exchanges)
        }
        return try load(data)
    }

    /// A plain transcript: one APDU in hex per line, command then response (as binaryfoo/emv-bertlv keeps its
    /// recordings), optionally marked "C:" and "R:"; blank lines and lines starting with # are skipped. Nil unless
    /// every other line is hex and the commands and responses pair up.
    static func hexLineExchanges(_ data: Data) -> [ReplayFile.Exchange]? {
        guard data.count < 1 << 20, let text = String(data: data, encoding: .utf8) else { return nil }
        var lines: [String] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            var l = raw.trimmingCharacters(in: .whitespaces)
            if l.isEmpty || l.hasPrefix("#") { continue }
            if l.hasPrefix("C:") || l.hasPrefix("R:") {
                l = String(l.dropFirst(2)).trimmingCharacters(in: .whitespaces)
            }
            guard l.count >= 4, l.count % 2 == 0, [UInt8](hex: l) != nil else { return nil }
            lines.append(l.uppercased())
        }
        guard !lines.isEmpty, lines.count % 2 == 0 else { return nil }
        var out: [ReplayFile.Exchange] = []
        for i in stride(from: 0, to: lines.count, by: 2) {
            guard CommandAPDU(bytes: [UInt8](hex: lines[i])!) != nil else { return nil }
            out.append(ReplayFile.Exchange(command: lines[i], response: lines[i + 1]))
        }
        return out
    }
}
