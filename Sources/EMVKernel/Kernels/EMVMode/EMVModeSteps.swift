// Steps the kernels that finish with GENERATE AC share (C-2, C-4, C-5, C-6): reading the GPO answer in either
// format, preparing CDA before the command, reading the GENERATE AC answer in either format, and verifying CDA
// after it. Each follows EMV 4.4 Book 3 and Book 2, which these kernels take over unchanged.

import APDU
import TLV

enum EMVModeSteps {
    /// An AIP without "EMV mode" (byte 2 b8): the card offers mag-stripe mode only, which tapd leaves out in every
    /// kernel — Try Another Interface, L2 MAGSTRIPE NOT SUPPORTED (Book C-2 S3.30–S3.32; Book C-4; Book C-5 5.3.1.4).
    static func magStripeOnly() -> Outcome {
        var o = Outcome(
            .tryAnotherInterface, reason: "the card offers mag-stripe mode only, which tapd does not support")
        o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .notReady, holdTimeMilliseconds: 1300)
        o.errorIndication = ErrorIndication(l2: .magstripeNotSupported, messageOnError: .insertSwipeOrTryAnotherCard)
        return o
    }

    /// Sets what an approval or online request reports of its CVM: the outcome's CVM, the CVM Results and 9F34 in
    /// the data for the acquirer; a signature asks for a receipt; then the UI request for the outcome.
    static func finish(_ o: inout Outcome, cvm: CardholderVerification.Result?) {
        if let cvm, o.kind == .approved || o.kind == .onlineRequest {
            o.cvm = cvm.outcomeCVM
            o.cvmResults = cvm.cvmResults
            o.transactionData[0x9F34] = cvm.cvmResults
        }
        o.receipt = o.cvm == .signature
        o.uiRequestOnOutcome = QuickKernel.uiRequest(for: o)
    }

    /// Book 3 §6.5.8.4: the GPO answer in format 1 (80: AIP then AFL) or format 2 (77: BER-TLV objects), added to
    /// the store. Returns the AIP; an answer without AIP or AFL is CARD DATA MISSING.
    static func readGPOResponse(
        _ gpo: ResponseAPDU, into store: inout TLVStore, session s: KernelSession, context: KernelContext
    ) throws(KernelFailure) -> [UInt8] {
        guard let resp = try? TLVParser.parseOne(gpo.data) else { throw .parsing("GPO response is not one TLV object") }
        switch resp.tag {
        case 0x77:
            try KernelSteps.addCardData(resp.children, into: &store, session: s, context: context)
        case 0x80:
            guard resp.value.count >= 2, (resp.value.count - 2) % 4 == 0 else {
                throw .cardData("format 1 GPO response of \(resp.value.count) bytes")
            }
            store[0x82] = Array(resp.value.prefix(2))
            store[0x94] = Array(resp.value.dropFirst(2))
        default:
            throw .cardData("GPO response template \(resp.tag.hex)")
        }
        guard let aip = store[0x82], aip.count == 2 else { throw .cardDataMissing("AIP (82) missing") }
        guard let afl = store[0x94], !afl.isEmpty else { throw .cardDataMissing("AFL (94) missing") }
        return aip
    }

    /// What CDA needs before GENERATE AC, per Book 2 §6.6 and Book 3 §10.3: the static data to be authenticated,
    /// the CA key, the certificates. A reason CDA cannot succeed is found here, so CDA is not asked for and the TVR
    /// says why (CDA failed, ICC data missing). An SDA Tag List naming other than 82, or a record for ODA that is not
    /// a 70 template, ends the transaction (Book C-2 S456.26–S456.27.2; the other kernels follow Book 3 §10.3).
    struct CDAPreparation {
        var staticData: [UInt8] = []
        var failure: ODAFailure? = nil
    }

    static func prepareCDA(
        _ s: KernelSession, store: TLVStore, aip: [UInt8], staticData: StaticDataToBeAuthenticated,
        tvr: inout TerminalVerificationResults
    ) throws(KernelFailure) -> CDAPreparation {
        var p = CDAPreparation()
        switch staticData.finish(sdaTagList: store[0x9F4A], aip: aip) {
        case .success(let b): p.staticData = b
        case .failure(.sdaTagListInvalid):
            throw .cardData("the Static Data Authentication Tag List holds a tag other than 82")
        case .failure(.staticDataRecordNotTemplate70(let sfi, let record)):
            throw .cardData("record \(record) of SFI \(sfi) used for ODA is not a 70 template")
        case .failure(let f):
            tvr.set(.cdaFailed)
            p.failure = f
        }
        if let idx = store[0x8F]?.first, s.keys.key(rid: s.rid, index: idx) == nil {
            tvr.set(.cdaFailed)
            p.failure = p.failure ?? .unknownCAKey(rid: s.rid, index: idx)
        }
        for t: Tag in [0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47] where store[t] == nil {
            tvr.set(.iccDataMissing)
            tvr.set(.cdaFailed)
            p.failure = p.failure ?? .missingData(t)
        }
        return p
    }

    /// Book 3 §6.5.5.4: the GENERATE AC answer in format 1 (80: CID, ATC, AC, IAD) or format 2 (77), added to the
    /// store. Returns the CID and the cryptogram this answer carries: unless CDA was asked for and the answer carries
    /// its signature (9F4B), the answer must carry the 8-byte cryptogram itself — one a record carried is never
    /// taken for it. `formatOneAllowed`: Book C-5
    /// (EMV mode) accepts format 2 only.
    static func readGenerateACResponse(
        _ genac: ResponseAPDU, into store: inout TLVStore, session s: KernelSession, context: KernelContext,
        cdaRequested: Bool, formatOneAllowed: Bool = true
    ) throws(KernelFailure) -> (cid: UInt8, cryptogram: [UInt8]) {
        guard genac.status.isSuccess else { throw .status("GENERATE AC", genac.status) }
        guard let ac = try? TLVParser.parseOne(genac.data) else {
            throw .parsing("GENERATE AC response is not one TLV object")
        }
        switch ac.tag {
        case 0x77:
            try KernelSteps.addCardData(ac.children, into: &store, session: s, context: context)
            // The CID and ATC of this answer, never a copy from elsewhere (CDA checks the answer's own CID).
            guard let c = ac.first(0x9F27)?.value.first else {
                throw .cardDataMissing("CID (9F27) missing from GENERATE AC")
            }
            guard let atc = ac.first(0x9F36), atc.value.count == 2 else {
                throw .cardDataMissing("ATC (9F36) missing from GENERATE AC")
            }
            store[0x9F27] = [c]
            store[0x9F36] = Array(atc.value)
            let signed = cdaRequested && ac.first(0x9F4B) != nil
            let own = ac.first(0x9F26).map { Array($0.value) }
            if !signed {
                guard let own, own.count == 8 else {
                    throw .cardDataMissing("Application Cryptogram (9F26) missing from GENERATE AC")
                }
            }
            return (c, own ?? [])
        case 0x80:
            guard formatOneAllowed else { throw .cardData("format 1 GENERATE AC response in EMV mode") }
            let v = Array(ac.value)
            guard v.count >= 11 else { throw .cardData("format 1 GENERATE AC response of \(v.count) bytes") }
            store[0x9F27] = [v[0]]
            store[0x9F36] = Array(v[1..<3])
            store[0x9F26] = Array(v[3..<11])
            if v.count > 11 { store[0x9F10] = Array(v[11...]) }
            return (v[0], Array(v[3..<11]))
        default:
            throw .cardData("GENERATE AC response template \(ac.tag.hex)")
        }
    }

    /// Book 2 §6.6.2: CDA over a GENERATE AC answer. With CDA the cryptogram exists only inside the signature: it
    /// becomes 9F26 for the online message, and a signature that does not verify leaves no cryptogram at all.
    static func verifyCDA(
        _ s: KernelSession, store: inout TLVStore, genac: ResponseAPDU, staticData: [UInt8], pdolData: [UInt8],
        cdolData: [UInt8]
    ) -> ODAResult {
        let r = OfflineDataAuthenticator(keys: s.keys, transactionDate: s.transaction.date).performCDA(
            rid: s.rid, data: store, staticData: staticData, pdolData: pdolData, cdolData: cdolData,
            generateACResponse: genac.data, un: store[0x9F37] ?? [])
        store[0x9F26] = r.cryptogram
        return r
    }
}
