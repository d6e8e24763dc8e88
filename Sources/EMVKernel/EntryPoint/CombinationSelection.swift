// Entry Point combination selection (EMV Contactless Book B §3.3): SELECT the PPSE, match its directory
// entries against the terminal's combinations, order the candidates by priority, and SELECT the chosen one.

import APDU
import TLV

/// One entry of the PPSE directory (Book B §3.3.2.4, Table 3-3).
public struct DirectoryEntry: Sendable, Equatable {
    public let adfName: [UInt8]
    public let label: String?
    /// Application Priority Indicator, lower nibble: 1 is the highest, 0 means none.
    public let priority: UInt8?
    public let kernelIdentifier: [UInt8]?
    public let extendedSelection: [UInt8]?

    /// Book B v2.10 §3.3.2.5: the kernel this entry asks for. 9F2A absent, or its first byte 00, means the default
    /// kernel of the RID (nil when the RID has none: any kernel). Byte 1 b8–b7 is the kernel type: 00/01 an
    /// international kernel whose identifier is byte 1; 10/11 a domestic kernel whose identifier is bytes 1–3 (an
    /// extended kernel ID), which needs three bytes and a short ID (b6–b1) other than 0, or the entry is dropped.
    public var requestedKernel: RequestedKernel {
        guard let k = kernelIdentifier, let first = k.first, first != 0 else {
            return KernelID.defaultKernel(forAID: adfName).map { .international($0.rawValue) } ?? .any
        }
        switch first >> 6 {
        case 0, 1:
            return .international(first)
        default:
            guard k.count >= 3, first & 0x3F != 0 else { return .invalid }
            return .domestic(Array(k.prefix(3)))
        }
    }

    /// What a directory entry's Kernel Identifier asks for.
    public enum RequestedKernel: Sendable, Equatable {
        case international(UInt8)
        case domestic([UInt8])
        /// No identifier and a RID without a default kernel: any configured kernel.
        case any
        /// A malformed identifier: the entry is not a candidate.
        case invalid
    }
}

public struct Candidate: Sendable {
    public let entry: DirectoryEntry
    public let combination: PreProcessedCombination
    /// Order of the entry in the directory, to keep equal priorities stable (Book B §3.3.2.7).
    public let order: Int
}

public enum SelectionError: Error, Equatable, Sendable {
    case noPPSE(StatusWord?)
    case malformedPPSE(String)
    case noCandidates
}

public enum CombinationSelection {
    /// Book B §3.3.2.2–§3.3.2.4: parses the PPSE FCI. Entries without a well-formed ADF name are skipped.
    public static func directory(from response: ResponseAPDU) throws(SelectionError) -> [DirectoryEntry] {
        guard response.status.isSuccess else { throw .noPPSE(response.status) }
        guard let fci = try? TLVParser.parseOne(response.data), fci.tag == 0x6F else {
            throw .malformedPPSE("no FCI template (6F)")
        }
        guard let a5 = fci.children.first(where: { $0.tag == 0xA5 }) else {
            throw .malformedPPSE("no FCI proprietary template (A5)")
        }
        guard let bf0c = a5.children.first(where: { $0.tag == 0xBF0C }) else {
            throw .malformedPPSE("no FCI issuer discretionary data (BF0C)")
        }
        var out: [DirectoryEntry] = []
        for e in bf0c.children where e.tag == 0x61 {
            guard let adf = e.children.first(where: { $0.tag == 0x4F }), (5...16).contains(adf.value.count) else {
                continue
            }
            let api = e.children.first(where: { $0.tag == 0x87 })?.value.first
            let label = e.children.first(where: { $0.tag == 0x50 }).map {
                String(decoding: $0.value.filter { $0 >= 0x20 && $0 < 0x7F }, as: UTF8.self)
            }
            let kid = e.children.first(where: { $0.tag == 0x9F2A }).map { Array($0.value) }
            let ext = e.children.first(where: { $0.tag == 0x9F29 }).map { Array($0.value) }
            out.append(
                DirectoryEntry(
                    adfName: Array(adf.value), label: label, priority: api.map { $0 & 0x0F },
                    kernelIdentifier: kid?.isEmpty == true ? nil : kid, extendedSelection: ext))
        }
        return out
    }

    /// Book B v2.10 §3.3.2.5–§3.3.2.7: entries matched against the allowed combinations (the configured AID is a
    /// prefix of the ADF name and the kernels agree), ordered by priority, then by directory order. A combination
    /// whose kernel tapd does not have never becomes a candidate, so a co-badged card falls through to the
    /// application tapd can run.
    public static func candidates(_ entries: [DirectoryEntry], _ combinations: [PreProcessedCombination]) -> [Candidate]
    {
        var out: [Candidate] = []
        for (i, e) in entries.enumerated() {
            let requested = e.requestedKernel
            // The combination for this entry is the one whose AID matches most of the ADF name (the first of equal
            // ones): a shorter, more general AID (UnionPay's 7-byte A0000003330101) never stands in for a longer one
            // that pre-processing ruled out for this transaction.
            var best: PreProcessedCombination? = nil
            for c in combinations where c.application.kernel.isSupported {
                let aid = c.application.aid.bytes
                let kernelMatches: Bool
                switch requested {
                case .international(let k): kernelMatches = c.application.kernel.rawValue == k
                case .any: kernelMatches = true
                case .domestic, .invalid: kernelMatches = false
                }
                if e.adfName.starts(with: aid), kernelMatches,
                    best.map({ aid.count > $0.application.aid.bytes.count }) ?? true
                {
                    best = c
                }
            }
            if let best, !best.indicators.contactlessApplicationNotAllowed {
                out.append(Candidate(entry: e, combination: best, order: i))
            }
        }
        return out.sorted { a, b in
            let pa = a.entry.priority.flatMap { $0 == 0 ? nil : $0 } ?? 16
            let pb = b.entry.priority.flatMap { $0 == 0 ? nil : $0 } ?? 16
            return pa != pb ? pa < pb : a.order < b.order
        }
    }

    /// Book B v2.10 §3.3.3.3: the name for the final SELECT, with the Extended Selection appended only when the
    /// combination supports it (Extended Selection Support flag).
    public static func selectName(for c: Candidate) -> [UInt8] {
        c.combination.application.extendedSelectionSupported
            ? c.entry.adfName + (c.entry.extendedSelection ?? []) : c.entry.adfName
    }

    /// The schemes a directory lists whose kernel tapd does not have (for the merchant's message).
    public static func unsupportedSchemes(_ entries: [DirectoryEntry]) -> [KernelID] {
        var out: [KernelID] = []
        for e in entries {
            if case .international(let k) = e.requestedKernel, let id = KernelID(rawValue: k), !id.isSupported,
                !out.contains(id)
            {
                out.append(id)
            }
        }
        return out
    }
}
