// Reads the binary trace format of the Proxmark3 client (`trace save`, the `traces/*.trace` files of
// RfidResearchGroup/proxmark3) and turns the ISO/IEC 14443-4 conversation in it into replay exchanges, so a public
// sniff of a real card or phone can be replayed through tapd's kernels (`tapctl replay FILE.trace`).
//
// The format is a sequence of records: timestamp (u32 LE), duration (u16 LE), data length (u15 LE, the top bit set
// when the frame came from the card), the frame bytes, then one parity byte per started 8 bytes of frame.
// Sniffed traces are imperfect and are read leniently:
//  - a record cut short at the end of the file ends the trace;
//  - frames with a wrong CRC_A (ISO/IEC 14443-3 §6.2.4) are kept only when they came from the card in answer to a
//    command: the terminal saw a transmission error there (or the sniffer did), which replays as one;
//  - reader frames the sniffer garbled are dropped; when the card then answers a READ RECORD nobody was seen to
//    send, the command is inferred as the next record of the same file and marked so in the exchange's note.
// The frame bytes are never changed.

import APDU
import TLV

/// A Proxmark3 trace file, as the 14443-4 exchanges it holds.
public enum Proxmark3Trace {
    /// One frame of the trace.
    public struct Frame: Sendable, Equatable {
        public let fromCard: Bool
        public let bytes: [UInt8]
        public let timestamp: UInt32
    }

    /// The frames of a trace file; a record cut short ends the list.
    public static func frames(_ file: [UInt8]) -> [Frame] {
        var out: [Frame] = []
        var i = 0
        while file.count - i >= 8 {
            let ts = UInt32(file[i]) | UInt32(file[i + 1]) << 8 | UInt32(file[i + 2]) << 16 | UInt32(file[i + 3]) << 24
            let lengthField = Int(file[i + 6]) | Int(file[i + 7]) << 8
            let fromCard = lengthField & 0x8000 != 0
            let length = lengthField & 0x7FFF
            let parity = length == 0 ? 1 : (length - 1) / 8 + 1
            guard file.count - i - 8 >= length + parity else { break }
            out.append(Frame(fromCard: fromCard, bytes: Array(file[(i + 8)..<(i + 8 + length)]), timestamp: ts))
            i += 8 + length + parity
        }
        return out
    }

    /// ISO/IEC 14443-3 §6.2.4 CRC_A over `bytes` (initial value 6363, LSB first on the air).
    public static func crcA(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0x6363
        for b in bytes {
            var x = b ^ UInt8(crc & 0xFF)
            x ^= x << 4
            crc = (crc >> 8) ^ (UInt16(x) << 8) ^ (UInt16(x) << 3) ^ (UInt16(x) >> 4)
        }
        return crc
    }

    static func crcOK(_ f: [UInt8]) -> Bool {
        guard f.count >= 3 else { return false }
        let c = crcA(f.dropLast(2))
        return f[f.count - 2] == UInt8(c & 0xFF) && f[f.count - 1] == UInt8(c >> 8)
    }

    /// The APDU exchanges of the trace: I-blocks (ISO/IEC 14443-4 §7.1.1.1, PCB 0x02 with b5 chaining, b4 CID and b3
    /// NAD following) reassembled per direction; R-blocks, S-blocks (WTX, DESELECT) and anticollision frames skipped.
    public static func exchanges(_ file: [UInt8]) -> [ReplayFile.Exchange] {
        var out: [ReplayFile.Exchange] = []
        var command: [UInt8]? = nil  // a complete reader APDU waiting for its answer
        var readerPart: [UInt8] = []
        var cardPart: [UInt8] = []
        var lastReadRecord: (sfi: UInt8, record: UInt8)? = nil
        for f in frames(file) {
            guard f.bytes.count >= 3, f.bytes[0] & 0xE2 == 0x02 else { continue }  // I-blocks only
            let pcb = f.bytes[0]
            let prologue = 1 + (pcb & 0x08 != 0 ? 1 : 0) + (pcb & 0x04 != 0 ? 1 : 0)
            guard f.bytes.count >= prologue + 2 else { continue }
            let inf = Array(f.bytes[prologue..<(f.bytes.count - 2)])
            let chained = pcb & 0x10 != 0
            if !f.fromCard {
                guard crcOK(f.bytes) else {
                    readerPart = []
                    continue
                }
                readerPart += inf
                if chained { continue }
                command = readerPart
                readerPart = []
                cardPart = []
                continue
            }
            guard crcOK(f.bytes) else {
                // The answer did not arrive intact: a transmission error for the pending command.
                cardPart = []
                if let c = command {
                    out.append(
                        .init(
                            command: Hex.encode(c), error: "transmission",
                            note: "the card's frame (\(f.bytes.count) bytes) failed its CRC in the trace"))
                    command = nil
                }
                continue
            }
            cardPart += inf
            if chained { continue }
            let response = cardPart
            cardPart = []
            var note: String? = nil
            if command == nil, let last = lastReadRecord, last.record < 0xFF {
                // Reader frame lost by the sniffer: the card's answer follows the previous READ RECORD.
                command = CommandAPDU.readRecord(sfi: last.sfi, record: last.record + 1).encodedOrEmpty
                note =
                    "command inferred: the sniffer lost the reader's frame; the answer follows READ RECORD SFI \(last.sfi) record \(last.record)"
            }
            guard let c = command else { continue }
            command = nil
            if c.count >= 4, c[1] == 0xB2 { lastReadRecord = (c[3] >> 3, c[2]) } else { lastReadRecord = nil }
            out.append(.init(command: Hex.encode(c), response: Hex.encode(response), note: note))
        }
        return out
    }

    /// Whether `file` looks like a Proxmark3 trace (binary, starts with a well-formed record) rather than JSON.
    public static func looksLikeTrace(_ file: [UInt8]) -> Bool {
        guard let first = file.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
            return false
        }
        return first != UInt8(ascii: "{") && !frames(file).isEmpty
    }
}

extension CommandAPDU {
    var encodedOrEmpty: [UInt8] { (try? encoded()) ?? [] }
}
