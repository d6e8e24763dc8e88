// Kernel C-2: Mastercard M/Chip (EMV Contactless Book C-2), EMV mode only — mag-stripe mode is not supported.
// GPO → (relay resistance) → READ RECORD → processing restrictions, CVM (on-device or CVM List), risk
// management → terminal action analysis → GENERATE AC with CDA → CDA verification → outcome.
import TLV
import APDU

public enum KernelC2 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.mastercard, s, process)
    }

    /// Book C-2 Kernel Configuration (DF811B) bits used here.
    struct Configuration {
        let onDeviceCVMSupported: Bool    // b6
        let relayResistanceSupported: Bool // b5
        init(_ b: [UInt8]?) {
            let v = b?.first ?? 0x30
            onDeviceCVMSupported = v & 0x20 != 0
            relayResistanceSupported = v & 0x10 != 0
        }
    }

    static func process(_ s: KernelSession) async throws(KernelFailure) -> Outcome {
        let app = s.application
        let kconf = Configuration(app.kernelConfiguration?.bytes)
        var store = s.terminalStore()
        store[0xDF811B] = app.kernelConfiguration?.bytes ?? [0x30]
        store[0xDF8120] = app.tacDefault.bytes
        store[0xDF8121] = app.tacDenial.bytes
        store[0xDF8122] = app.tacOnline.bytes
        store.add(s.fci.children)

        let (_, pdolData) = try KernelSteps.pdolData(s, store, context: .c2)
        let gpo = try await KernelSteps.send(s, .getProcessingOptions(pdolData: pdolData))
        // Book C-2: GPO not successful → Select Next.
        guard gpo.status.isSuccess else { return Outcome(.selectNext, reason: "GET PROCESSING OPTIONS answered \(gpo.status)") }
        guard let resp = try? TLVParser.parseOne(gpo.data) else { throw .cardData("GPO response is not one TLV object") }
        switch resp.tag {
        case 0x77:
            try KernelSteps.addCardData(resp.children, into: &store, session: s)
        case 0x80:
            // Format 1: AIP (2 bytes) followed by the AFL.
            guard resp.value.count >= 2, (resp.value.count - 2) % 4 == 0 else { throw .cardData("format 1 GPO response of \(resp.value.count) bytes") }
            store[0x82] = Array(resp.value.prefix(2))
            store[0x94] = Array(resp.value.dropFirst(2))
        default:
            throw .cardData("GPO response template \(resp.tag.hex)")
        }
        guard let aip = store[0x82], aip.count == 2 else { throw .cardData("AIP (82) missing") }
        guard let aflBytes = store[0x94], !aflBytes.isEmpty else { throw .cardData("AFL (94) missing") }
        // EMV mode (AIP byte 2 b8); mag-stripe mode is not implemented.
        guard aip[1] & 0x80 != 0 else {
            var o = Outcome(.tryAnotherInterface, reason: "the card offers mag-stripe mode only, which tapd does not support")
            o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .processingError, holdTimeMilliseconds: 1300)
            return o
        }
        // The contactless transaction limit depends on on-device CVM (DF8124 / DF8125).
        let odcvm = kconf.onDeviceCVMSupported && aip[0] & 0x02 != 0
        let limit = odcvm ? (app.contactlessTransactionLimitOnDeviceCVM ?? app.contactlessTransactionLimit) : app.contactlessTransactionLimit
        if let limit, s.transaction.amount > limit {
            var o = Outcome(.tryAnotherInterface, reason: "amount above the contactless transaction limit (\(limit))")
            o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .processingError, holdTimeMilliseconds: 1300)
            return o
        }

        var tvr = TerminalVerificationResults()
        // Relay resistance, when both sides support it (AIP byte 2 b1).
        var rrp: RelayResistanceResult? = nil
        if kconf.relayResistanceSupported && aip[1] & 0x01 != 0 {
            let r = try await RelayResistance.perform(s, config: app.relayResistance ?? RelayResistanceConfiguration())
            rrp = r
            store[0x9F37] = r.terminalEntropy               // Book C-2: the UN is the terminal's RRP entropy
            store[0xDF8301] = r.terminalEntropy
            store[0xDF8302] = r.deviceEntropy
            store[0xDF8306] = [UInt8(r.measuredProcessingTime >> 8), UInt8(r.measuredProcessingTime & 0xFF)]
            store[0xDF8307] = [UInt8(r.attempts - 1)]
            tvr.setRelayResistance(.performed)
            if r.timeLimitsExceeded { tvr.set(.relayResistanceTimeLimitsExceeded) }
            if r.thresholdExceeded { tvr.set(.relayResistanceThresholdExceeded) }
        } else {
            tvr.setRelayResistance(kconf.relayResistanceSupported ? .notPerformed : .notSupported)
        }

        let afl: ApplicationFileLocator
        do { afl = try ApplicationFileLocator(aflBytes) } catch { throw .cardData("\(error)") }
        var staticData = StaticDataToBeAuthenticated()
        try await KernelSteps.readRecords(s, afl: afl, into: &store, staticData: &staticData)
        for t: Tag in [0x5A, 0x5F24, 0x8C] where store[t] == nil {
            throw .cardData("mandatory \(DataDictionary.element(t)?.name ?? t.hex) (\(t.hex)) missing")
        }
        let pan = CardIdentity.pan(from: store) ?? ""

        // ODA: C-2 supports CDA only; it needs the CA key and the certificates, and the reader's capability.
        let securityCDA = (store[0x9F33]?.count == 3) && (store[0x9F33]![2] & 0x08 != 0)
        let cdaSelected = aip[0] & 0x01 != 0 && securityCDA
        var staticBytes: [UInt8] = []
        if cdaSelected {
            switch staticData.finish(sdaTagList: store[0x9F4A], aip: aip) {
            case .success(let b): staticBytes = b
            case .failure: tvr.set(.cdaFailed)
            }
            if let idx = store[0x8F]?.first, s.keys.key(rid: s.rid, index: idx) == nil { tvr.set(.cdaFailed) }
            for t: Tag in [0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47] where store[t] == nil { tvr.set(.iccDataMissing); tvr.set(.cdaFailed) }
        } else {
            tvr.set(.odaNotPerformed)
        }

        ProcessingRestrictions.apply(store, date: s.transaction.date, to: &tvr)

        // CVM (Book C-2 CVM selection): on-device CVM above the CVM required limit, else the CVM List.
        let amount = s.transaction.amount
        let overCVMLimit = app.cvmRequiredLimit.map { amount > $0 } ?? false
        let cvm: CardholderVerification.Result
        if odcvm && overCVMLimit {
            cvm = .init(cvmResults: [0x01, 0x00, 0x02], outcomeCVM: .confirmationCodeVerified)
        } else if aip[0] & 0x10 != 0 {
            let cap = CVMCapability(overCVMLimit ? cvmCapabilityRequired(s.configuration) : 0x08)
            cvm = CardholderVerification.process(list: store[0x8E].flatMap { CVMList($0) }, capability: cap, amount: amount,
                                                 amountOther: s.transaction.amountOther, transactionType: s.transaction.type.rawValue,
                                                 currencyMatches: store[0x9F42] == nil || store[0x9F42] == store[0x5F2A], tvr: &tvr)
        } else {
            cvm = .init(cvmResults: [0x3F, 0x00, 0x00], outcomeCVM: .noCVM)
        }
        store[0x9F34] = cvm.cvmResults

        // Terminal risk management (Book 3 §10.6): floor limit, exception file.
        if let floor = app.contactlessFloorLimit, amount > floor { tvr.set(.exceedsFloorLimit) }
        if s.risk.isOnExceptionFile(pan: pan) { tvr.set(.cardOnExceptionFile) }

        // Terminal action analysis (Book 3 §10.7) with the AID's TACs.
        let requested = TerminalActionAnalysis.decide(tvr: tvr, tacDenial: app.tacDenial.bytes, tacOnline: app.tacOnline.bytes,
                                                      tacDefault: app.tacDefault.bytes, iacDenial: store[0x9F0E],
                                                      iacOnline: store[0x9F0F], iacDefault: store[0x9F0D],
                                                      onlineCapable: s.configuration.onlineCapable)
        store[0x95] = tvr.bytes
        guard let cdol1 = try? DataObjectList(parsing: store[0x8C]!) else { throw .cardData("malformed CDOL1") }
        let cdolData = cdol1.build(context: .c2) { store[$0] }
        // CDA for an AAC only when the card says it signs AACs (Application Capabilities Information byte 2 b1).
        let cdaOverAAC = (store[0x9F5D]?.count ?? 0) >= 2 && store[0x9F5D]![1] & 0x01 != 0
        let requestCDA = cdaSelected && !tvr.isSet(.cdaFailed) && (requested != .aac || cdaOverAAC)
        let request: CommandAPDU.CryptogramRequest = requested == .arqc ? .arqc : requested == .tc ? .tc : .aac
        let genac = try await KernelSteps.send(s, .generateAC(request, cda: requestCDA, cdolData: cdolData))
        guard genac.status.isSuccess else { throw .status("GENERATE AC", genac.status) }
        guard let ac = try? TLVParser.parseOne(genac.data) else { throw .cardData("GENERATE AC response is not one TLV object") }

        var cid: UInt8
        var cryptogramValue: [UInt8] = []
        switch ac.tag {
        case 0x77:
            try KernelSteps.addCardData(ac.children, into: &store, session: s)
            guard let c = store[0x9F27]?.first else { throw .cardData("CID (9F27) missing from GENERATE AC") }
            cid = c
            cryptogramValue = store[0x9F26] ?? []
        case 0x80:
            // Format 1: CID, ATC, AC, IAD (Book 3 §6.5.5.4).
            let v = Array(ac.value)
            guard v.count >= 11 else { throw .cardData("format 1 GENERATE AC response of \(v.count) bytes") }
            cid = v[0]
            store[0x9F27] = [v[0]]; store[0x9F36] = Array(v[1..<3]); cryptogramValue = Array(v[3..<11])
            store[0x9F26] = cryptogramValue
            if v.count > 11 { store[0x9F10] = Array(v[11...]) }
        default:
            throw .cardData("GENERATE AC response template \(ac.tag.hex)")
        }
        guard let kind = ApplicationCryptogram.kind(fromCID: cid) else { throw .cardData("CID \(Hex.encode([cid])) is RFU") }

        // A phone that wants its user first answers AAC and says so in the POS Cardholder Interaction Information.
        if kind == .aac, odcvm, let pcii = store[0xDF4B], pcii.count == 3, (pcii[1] & 0x03) != 0 || (pcii[2] & 0x0F) != 0 {
            var o = Outcome(.seePhone, reason: "the device asks the cardholder to look at it (POS Cardholder Interaction Information)")
            o.start = .b
            o.uiRequestOnOutcome = UIRequest(.seePhone, .notReady, holdTimeMilliseconds: 1300)
            o.uiRequestOnRestart = UIRequest(.presentCard, .readyToRead)
            o.maskedPAN = CardDataMask.pan(pan)
            return o
        }

        var oda: ODAResult? = nil
        if requestCDA, kind != .aac || store[0x9F4B] != nil {
            let un = store[0x9F37] ?? []
            var r = OfflineDataAuthenticator(keys: s.keys, transactionDate: s.transaction.date)
                .performCDA(rid: s.rid, data: store, staticData: staticBytes, pdolData: pdolData, cdolData: cdolData,
                            generateACResponse: genac.data, un: un)
            // With relay resistance the card signs the RRP values after the hash code; when present they must match.
            if r.succeeded, let rrp, let signed = r.cdaTrailingData, !signed.isEmpty, !signed.starts(with: rrp.signedFields) {
                r = ODAResult(method: .cda, failure: .dynamicDataInvalid("relay resistance values differ from the ones exchanged"))
            }
            // With CDA the cryptogram exists only inside the signature (Book 2 §6.6.2): it becomes 9F26 for the
            // online message.
            if let c = r.cryptogram { cryptogramValue = c; store[0x9F26] = c }
            oda = r
        } else if cdaSelected {
            oda = ODAResult(method: .cda, failure: tvr.isSet(.cdaFailed) ? .missingData(0x9F4B) : nil)
        }
        oda?.apply(to: &tvr)

        var outcome = Outcome(.declined)
        outcome.maskedPAN = CardDataMask.pan(pan)
        outcome.applicationLabel = store[0x50].map { String(decoding: $0, as: UTF8.self) }
        // No cryptogram to report when it sat in a signature that did not verify.
        outcome.cryptogram = cryptogramValue.isEmpty ? nil : ApplicationCryptogram(kind: kind, value: cryptogramValue, atc: store[0x9F36] ?? [])
        outcome.oda = oda
        outcome.cvmResults = cvm.cvmResults
        if requestCDA, oda?.succeeded == false {
            // A CDA failure found after terminal action analysis is an offline decline (EMV SU 44; Book C-2).
            outcome.kind = .declined
            outcome.reason = "CDA failed: \(oda!.failure!)"
        } else {
            switch kind {
            case .tc: outcome.kind = .approved; outcome.reason = "approved offline (TC)"
            case .arqc: outcome.kind = .onlineRequest; outcome.reason = "the card asks for online authorisation (ARQC)"
            case .aac: outcome.kind = .declined; outcome.reason = "the card declined (AAC)"
            }
        }
        outcome.cvm = outcome.kind == .declined ? .notApplicable : cvm.outcomeCVM
        outcome.receipt = outcome.cvm == .signature
        outcome.uiRequestOnOutcome = KernelC3.uiRequest(for: outcome)
        outcome.tvr = tvr
        // 95 stays as sent in CDOL1: the cryptogram covers that value (the kernel's later view is `outcome.tvr`).
        outcome.transactionData = store
        return outcome
    }

    /// Terminal CVM capability above the CVM required limit (DF8118), from the reader's abilities.
    static func cvmCapabilityRequired(_ c: TerminalConfiguration) -> UInt8 {
        (c.supportsOnlinePIN ? 0x40 : 0) | (c.supportsSignature ? 0x20 : 0)
    }
}
