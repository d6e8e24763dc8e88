import TLV

// Command APDUs (ISO/IEC 7816-4 §5.1) and the EMV commands built from them (EMV Book 3 §6.5,
// Book C-2 §5 for the contactless-only commands).

public struct CommandAPDU: Sendable, Equatable, CustomStringConvertible {
    public var cla: UInt8
    public var ins: UInt8
    public var p1: UInt8
    public var p2: UInt8
    public var data: [UInt8]
    /// Expected response length: nil = no Le field; 256 (short) or 65536 (extended) encode as zero.
    public var le: Int?

    /// Largest command data field (extended Lc).
    public static let maxDataLength = 65535

    public init(cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], le: Int? = nil) {
        self.cla = cla
        self.ins = ins
        self.p1 = p1
        self.p2 = p2
        self.data = data
        self.le = le
    }

    /// Whether the short form can carry this command (Lc ≤ 255, Le ≤ 256).
    public var fitsShortForm: Bool { data.count <= 255 && (le ?? 0) <= 256 }

    /// ISO/IEC 7816-4 §5.1 encoding; the extended form is used only when the short form cannot carry it.
    public func encoded() throws -> [UInt8] {
        guard data.count <= Self.maxDataLength else { throw CardError.commandTooLong(data.count) }
        if let le, !(0...65536).contains(le) { throw CardError.commandTooLong(le) }
        var out: [UInt8] = [cla, ins, p1, p2]
        if fitsShortForm {
            if !data.isEmpty {
                out.append(UInt8(data.count))
                out += data
            }
            if let le { out.append(UInt8(truncatingIfNeeded: le)) }  // 256 → 00
        } else {
            if !data.isEmpty {
                out += [0x00, UInt8(data.count >> 8), UInt8(data.count & 0xFF)]
                out += data
                if let le { out += [UInt8(truncatingIfNeeded: le >> 8), UInt8(truncatingIfNeeded: le)] }
            } else if let le {
                out += [0x00, UInt8(truncatingIfNeeded: le >> 8), UInt8(truncatingIfNeeded: le)]
            }
        }
        return out
    }

    /// Parses an encoded command (for traces and simulators). Returns nil on a malformed encoding.
    public init?(bytes b: [UInt8]) {
        guard b.count >= 4 else { return nil }
        self.init(cla: b[0], ins: b[1], p1: b[2], p2: b[3])
        let body = Array(b[4...])
        if body.isEmpty { return }
        if body.count == 1 {
            le = body[0] == 0 ? 256 : Int(body[0])
            return
        }
        if body[0] != 0 {  // short Lc
            let lc = Int(body[0])
            if body.count == 1 + lc {
                data = Array(body[1...])
                return
            }
            if body.count == 2 + lc {
                data = Array(body[1...lc])
                le = body[lc + 1] == 0 ? 256 : Int(body[lc + 1])
                return
            }
            return nil
        }
        // Extended: 00 followed by two bytes.
        guard body.count >= 3 else { return nil }
        let n = Int(body[1]) << 8 | Int(body[2])
        if body.count == 3 {
            le = n == 0 ? 65536 : n
            return
        }
        guard n > 0 else { return nil }
        if body.count == 3 + n {
            data = Array(body[3...])
            return
        }
        if body.count == 5 + n {
            data = Array(body[3..<3 + n])
            let l = Int(body[3 + n]) << 8 | Int(body[4 + n])
            le = l == 0 ? 65536 : l
            return
        }
        return nil
    }

    public var header: [UInt8] { [cla, ins, p1, p2] }

    public var description: String {
        ((try? encoded()) ?? header).hex
    }
}

// MARK: - EMV commands

extension CommandAPDU {
    /// SELECT by DF name, first or only occurrence (Book 1 §11.3).
    public static func select(name: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: name, le: 256)
    }

    /// SELECT next occurrence (Book 1 §11.3.2, P2 = 02).
    public static func selectNext(name: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x02, data: name, le: 256)
    }

    /// "2PAY.SYS.DDF01": the Proximity Payment System Environment (Book B §3.3.2).
    public static let ppseName: [UInt8] = Array("2PAY.SYS.DDF01".utf8)

    /// GET PROCESSING OPTIONS with the PDOL related data wrapped in tag 83 (Book 3 §6.5.8).
    public static func getProcessingOptions(pdolData: [UInt8]) -> CommandAPDU {
        var data: [UInt8] = [0x83]
        TLV.appendLength(pdolData.count, to: &data)
        data += pdolData
        return CommandAPDU(cla: 0x80, ins: 0xA8, p1: 0x00, p2: 0x00, data: data, le: 256)
    }

    /// READ RECORD (Book 3 §6.5.11): P2 = SFI << 3 | 4.
    public static func readRecord(sfi: UInt8, record: UInt8) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xB2, p1: record, p2: sfi << 3 | 0x04, le: 256)
    }

    /// Reference control parameter for GENERATE AC (Book 3 §6.5.5.2 Table 12).
    public enum CryptogramRequest: UInt8, Sendable {
        case aac = 0x00
        case tc = 0x40
        case arqc = 0x80
    }

    /// GENERATE AC; `cda` sets b5 of P1 to request a CDA signature (Book 3 §6.5.5.2).
    public static func generateAC(_ type: CryptogramRequest, cda: Bool, cdolData: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xAE, p1: type.rawValue | (cda ? 0x10 : 0), p2: 0x00, data: cdolData, le: 256)
    }

    /// INTERNAL AUTHENTICATE with the DDOL related data (Book 3 §6.5.9).
    public static func internalAuthenticate(ddolData: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0x88, p1: 0x00, p2: 0x00, data: ddolData, le: 256)
    }

    /// GET DATA for a primitive tag such as 9F36 or 9F17 (Book 3 §6.5.7).
    public static func getData(tag: UInt16) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xCA, p1: UInt8(tag >> 8), p2: UInt8(tag & 0xFF), le: 256)
    }

    /// GET CHALLENGE (Book 3 §6.5.6).
    public static let getChallenge = CommandAPDU(cla: 0x00, ins: 0x84, p1: 0x00, p2: 0x00, le: 256)

    /// GET RESPONSE for a T=0 61xx answer (Book 1 §9.3.1.3); Le 0 means 256.
    public static func getResponse(_ le: UInt8) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xC0, p1: 0x00, p2: 0x00, le: le == 0 ? 256 : Int(le))
    }

    /// EXCHANGE RELAY RESISTANCE DATA with the Terminal Relay Resistance Entropy (Book C-2 §5.3).
    public static func exchangeRelayResistanceData(entropy: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xEA, p1: 0x00, p2: 0x00, data: entropy, le: 256)
    }

    /// RECOVER AC with the DRDOL related data (Book C-2 §5.5, torn transaction recovery).
    public static func recoverAC(drdolData: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xD0, p1: 0x00, p2: 0x00, data: drdolData, le: 256)
    }

    /// COMPUTE CRYPTOGRAPHIC CHECKSUM (Book C-2 §5.2, mag-stripe mode).
    public static func computeCryptographicChecksum(udolData: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x2A, p1: 0x8E, p2: 0x80, data: udolData, le: 256)
    }
}
