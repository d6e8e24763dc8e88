// Kernel C-2: Mastercard M/Chip (EMV Contactless Book C-2 v2.10), EMV mode only — mag-stripe mode is not supported.
// GPO → (relay resistance) → READ RECORD → limits, processing restrictions, CVM (on-device or CVM List), risk
// management → terminal action analysis → GENERATE AC with CDA → checks on the answer → CDA → outcome.
// Decisions read the terminal data the card was actually sent (9F33, 9F35, the CVM capabilities DF8118/DF8119 and
// the limits DF8123–DF8126 when a replay gives them), so a replay follows the recorded terminal.

import APDU
import TLV

public enum KernelC2 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.mastercard, s, process)
    }

    /// Book C-2 Kernel Configuration (DF811B) bits used here.
    struct Configuration {
        let onDeviceCVMSupported: Bool  // b6
        let relayResistanceSupported: Bool  // b5
        init(_ b: [UInt8]?) {
            let v = b?.first ?? 0x30
            onDeviceCVMSupported = v & 0x20 != 0
            relayResistanceSupported = v & 0x10 != 0
        }
    }

    /// The limits of this transaction: the configuration's, unless the terminal data give DF8123–DF8126 (replays).
    struct Limits {
        let floor: UInt64?
        let noOnDeviceCVM: UInt64?
        let onDeviceCVM: UInt64?
        let cvmRequired: UInt64?
        init(_ app: ApplicationConfiguration, _ store: TLVStore) {
            func n12(_ t: Tag) -> UInt64? { store[t].flatMap { $0.count == 6 ? BCD.decode($0) : nil } }
            floor = n12(0xDF8123) ?? app.contactlessFloorLimit
            noOnDeviceCVM = n12(0xDF8124) ?? app.contactlessTransactionLimit
            onDeviceCVM = n12(0xDF8125) ?? app.contactlessTransactionLimitOnDeviceCVM ?? app.contactlessTransactionLimit
            cvmRequired = n12(0xDF8126) ?? app.cvmRequiredLimit
        }
    }

    static func process(_ s: KernelSession) async throws(KernelFailure) -> Outcome {
        let app = s.application
        var store = s.terminalStore()
        if store[0xDF811B] == nil { store[0xDF811B] = app.kernelConfiguration?.bytes ?? [0x30] }
        let kconf = Configuration(store[0xDF811B])
        if store[0xDF8120] == nil { store[0xDF8120] = app.tacDefault.bytes }
        if store[0xDF8121] == nil { store[0xDF8121] = app.tacDenial.bytes }
        if store[0xDF8122] == nil { store[0xDF8122] = app.tacOnline.bytes }
        if store[0xDF8118] == nil { store[0xDF8118] = [cvmCapabilityRequired(s.configuration)] }
        if store[0xDF8119] == nil { store[0xDF8119] = [0x08] }  // No CVM
        // Book C-2 Annex A configuration data phones ask for in their PDOL: Card Data Input Capability (9F33 byte 1)
        // and Security Capability (9F33 byte 3).
        if let caps = store[0x9F33], caps.count == 3 {
            if store[0xDF8117] == nil { store[0xDF8117] = [caps[0]] }
            if store[0xDF811F] == nil { store[0xDF811F] = [caps[2]] }
        }
        // The limits come from the terminal (configuration or a replay's recorded reader), before any card data.
        let limits = Limits(app, store)
        store.add(try KernelSteps.checkCardData(s.fci.children, context: .c2))
        let amount = s.transaction.amount
        // S456.30-S456.33: the CVM Capability in force — DF8118 above the CVM required limit, DF8119 at or below it.
        let overCVMLimit = limits.cvmRequired.map { amount > $0 } ?? false
        let cvmCapability = (overCVMLimit ? store[0xDF8118] : store[0xDF8119])?.first ?? 0x08
        // Book C-2 Annex A 9F1D Terminal Risk Management Data (phones read it in their PDOL or CDOL): byte 1 the CVM
        // capability in force, with b3 "CDCVM (contactless)" when on-device CVM is supported; byte 2 b8 "CVM limit
        // exceeded".
        if store[0x9F1D] == nil {
            store[0x9F1D] = [
                cvmCapability | (kconf.onDeviceCVMSupported ? 0x04 : 0), overCVMLimit ? 0x80 : 0, 0, 0, 0, 0, 0, 0,
            ]
        }

        let (_, pdolData) = try KernelSteps.pdolData(s, store, context: .c2)
        let gpo = try await KernelSteps.send(s, .getProcessingOptions(pdolData: pdolData))
        // Book C-2 State 3 (S3.8-S3.9): a GPO status other than 9000 → Select Next, L2 STATUS BYTES.
        guard gpo.status.isSuccess else {
            var o = Outcome(.selectNext, reason: "GET PROCESSING OPTIONS answered \(gpo.status)")
            o.start = .c
            o.errorIndication = ErrorIndication(l2: .statusBytes, statusWord: gpo.status.rawValue)
            return o
        }
        // Format 1 or 2; AIP and AFL present (S3.10–S3.13).
        let aip = try EMVModeSteps.readGPOResponse(gpo, into: &store, session: s, context: .c2)
        let aflBytes = store[0x94] ?? []
        // State 3: EMV mode (AIP byte 2 b8); tapd has no mag-stripe mode → L2 MAGSTRIPE NOT SUPPORTED.
        guard aip[1] & 0x80 != 0 else { return EMVModeSteps.magStripeOnly() }
        // S3.33-S3.35: the transaction limit depends on on-device CVM (DF8125 when both sides support it, else DF8124).
        let odcvm = kconf.onDeviceCVMSupported && aip[0] & 0x02 != 0
        let limit = odcvm ? limits.onDeviceCVM : limits.noOnDeviceCVM

        var tvr = TerminalVerificationResults()
        // Relay resistance, when both sides support it (AIP byte 2 b1). S3.65: TVR byte 5 b2-b1 = 01 (not performed)
        // otherwise.
        var rrp: RelayResistanceResult? = nil
        if kconf.relayResistanceSupported && aip[1] & 0x01 != 0 {
            let r = try await RelayResistance.perform(s, config: app.relayResistance ?? RelayResistanceConfiguration())
            rrp = r
            store[0x9F37] = r.terminalEntropy  // Book C-2: the UN is the terminal's RRP entropy
            store[0xDF8301] = r.terminalEntropy
            store[0xDF8302] = r.deviceEntropy
            store[0xDF8306] = [UInt8(r.measuredProcessingTime >> 8), UInt8(r.measuredProcessingTime & 0xFF)]
            store[0xDF8307] = [UInt8(r.attempts - 1)]
            tvr.setRelayResistance(.performed)
            if r.timeLimitsExceeded { tvr.set(.relayResistanceTimeLimitsExceeded) }
            if r.thresholdExceeded { tvr.set(.relayResistanceThresholdExceeded) }
        } else {
            tvr.setRelayResistance(.notPerformed)
        }

        let afl: ApplicationFileLocator
        do { afl = try ApplicationFileLocator(aflBytes) } catch { throw .cardData("\(error)") }
        var staticData = StaticDataToBeAuthenticated()
        try await KernelSteps.readRecords(s, afl: afl, into: &store, staticData: &staticData, context: .c2)
        // S456.14-S456.15: an amount above the reader contactless transaction limit → Select Next (Start C),
        // L2 MAX LIMIT EXCEEDED, after the records (a co-badged application may still take it).
        if let limit, amount > limit {
            var o = Outcome(.selectNext, reason: "amount above the contactless transaction limit (\(limit))")
            o.start = .c
            o.errorIndication = ErrorIndication(l2: .maxLimitExceeded)
            return o
        }
        // S456.16-S456.17: the data every EMV mode transaction needs.
        for t: Tag in [0x5A, 0x5F24, 0x8C] where store[t] == nil {
            throw .cardDataMissing("mandatory \(DataDictionary.element(t)?.name ?? t.hex) (\(t.hex)) missing")
        }
        let pan = CardIdentity.pan(from: store) ?? ""

        // ODA: C-2 does CDA only, when the card (AIP byte 1 b1) and the terminal (9F33 byte 3 b4) support it.
        let capabilities = store[0x9F33] ?? []
        let securityCDA = capabilities.count == 3 && capabilities[2] & 0x08 != 0
        let cdaSelected = aip[0] & 0x01 != 0 && securityCDA
        var staticBytes: [UInt8] = []
        // Why CDA cannot be done, found before GENERATE AC (it is then not asked for; the TVR says why).
        var cdaPreFailure: ODAFailure? = nil
        if cdaSelected {
            // S456.26–S456.27.2 and the CA key and certificates CDA needs (Book 2 §6.6).
            let prepared = try EMVModeSteps.prepareCDA(s, store: store, aip: aip, staticData: staticData, tvr: &tvr)
            staticBytes = prepared.staticData
            cdaPreFailure = prepared.failure
        } else {
            tvr.set(.odaNotPerformed)
        }

        ProcessingRestrictions.apply(store, date: s.transaction.date, to: &tvr)

        // S456.30-S456.33: Terminal Capabilities byte 2 becomes the CVM Capability for this amount.
        if capabilities.count == 3 { store[0x9F33] = [capabilities[0], cvmCapability, capabilities[2]] }

        // CVM selection (Book C-2 §7.5, CVM.1-CVM.4): on-device CVM when both sides support it, else the CVM List.
        let cvm: CardholderVerification.Result
        let refund = s.transaction.type == .refund
        if refund {
            // A refund credits the cardholder: no cardholder verification (CVM Results 3F 00 00, "no CVM
            // performed"). Book C-2 has no refund rule of its own; this is tapd's refund rule.
            cvm = .init(cvmResults: [0x3F, 0x00, 0x00], outcomeCVM: .noCVM)
        } else if odcvm {
            cvm =
                overCVMLimit
                ? .init(cvmResults: [0x01, 0x00, 0x02], outcomeCVM: .confirmationCodeVerified)
                : .init(cvmResults: [0x3F, 0x00, 0x02], outcomeCVM: .noCVM)
        } else if aip[0] & 0x10 != 0 {
            cvm = CardholderVerification.process(
                list: store[0x8E].flatMap { CVMList($0) }, capability: CVMCapability(cvmCapability),
                amount: amount, amountOther: s.transaction.amountOther,
                transactionType: s.transaction.type.rawValue,
                currencyMatches: store[0x9F42] == nil || store[0x9F42] == store[0x5F2A], tvr: &tvr)
        } else {
            cvm = .init(cvmResults: [0x3F, 0x00, 0x00], outcomeCVM: .noCVM)
        }
        store[0x9F34] = cvm.cvmResults

        // Terminal risk management (Book 3 §10.6): floor limit, exception file.
        if let floor = limits.floor, amount > floor { tvr.set(.exceedsFloorLimit) }
        if s.risk.isOnExceptionFile(pan: pan) { tvr.set(.cardOnExceptionFile) }

        // Terminal action analysis (Book 3 §10.7; Book C-2 §7.8 TAA) with the terminal type the card was sent.
        let terminalType = TerminalType(store[0x9F35]?.first ?? s.configuration.terminalTypeByte)
        var requested = TerminalActionAnalysis.decide(
            tvr: tvr, tacDenial: store[0xDF8121] ?? [], tacOnline: store[0xDF8122] ?? [],
            tacDefault: store[0xDF8120] ?? [], iacDenial: store[0x9F0E],
            iacOnline: store[0x9F0F], iacDefault: store[0x9F0D], terminalType: terminalType)
        // Book 3 Annex C: TVR byte 4 b4, the merchant forced the transaction online (a pre-authorisation): never a TC.
        if s.transaction.forcedOnline {
            tvr.set(.merchantForcedOnline)
            requested = terminalType.withoutTC(requested)
        }
        // tapd's refund rule: a refund asks the card for an AAC and for no CDA over it — nothing is approved offline
        // and the issuer hears of it online (Visa and Mastercard require refunds to be authorised online). Book C-2
        // leaves the AC type to Terminal Action Analysis, i.e. to a refund's TACs; forcing it here means no TAC set
        // can make a refund a TC. The AAC then ends the kernel with End Application and the Data Record
        // (S910.74–S910.75 below).
        if refund { requested = .aac }
        // Online PIN is verified by the issuer: never a TC with it, whatever the TACs and IACs say (Book 3 §10.5.2).
        if cvm.outcomeCVM == .onlinePIN { requested = terminalType.withoutTC(requested) }
        // CDA for an AAC only when the card says it signs AACs (Application Capabilities Information byte 2 b1).
        let cdaOverAAC = (store[0x9F5D]?.count ?? 0) >= 2 && store[0x9F5D]![1] & 0x01 != 0
        let cdaPossible = cdaSelected && !tvr.isSet(.cdaFailed)
        // tapd rule: an offline approval rests on CDA over the cryptogram. Without CDA a TC is never asked for: the
        // transaction goes online when the terminal can, else it is declined.
        if !cdaPossible { requested = terminalType.withoutTC(requested) }
        store[0x95] = tvr.bytes
        guard let cdol1 = try? DataObjectList(parsing: store[0x8C]!) else { throw .cardData("malformed CDOL1") }
        let cdolData = cdol1.build(context: .c2) { store[$0] }
        let requestCDA = cdaPossible && !refund && (requested != .aac || cdaOverAAC)

        // The cryptogram: RECOVER AC for a torn transaction of this card (S456.43-S456.48), else GENERATE AC.
        var pending = Pending(
            store: store, pdolData: pdolData, cdolData: cdolData, staticData: staticBytes,
            requested: requested, requestCDA: requestCDA, cvm: cvm, tvr: tvr)
        let genac: ResponseAPDU
        if let recovered = try await recoverTornTransaction(s, pan: pan, current: pending) {
            (genac, pending) = recovered
        } else {
            genac = try await generateAC(s, pan: pan, pending: pending)
        }
        return try await judge(s, genac: genac, pending: pending, pan: pan, rrp: rrp, cdaPreFailure: cdaPreFailure)
    }

    /// The answer to GENERATE AC (or RECOVER AC) judged against what was asked: the CID against the request, "see
    /// phone", CDA, then the outcome.
    static func judge(
        _ s: KernelSession, genac: ResponseAPDU, pending: Pending, pan: String, rrp: RelayResistanceResult?,
        cdaPreFailure: ODAFailure?
    ) async throws(KernelFailure) -> Outcome {
        var store = pending.store
        var tvr = pending.tvr
        var (cid, cryptogramValue) = try EMVModeSteps.readGenerateACResponse(
            genac, into: &store, session: s, context: .c2, cdaRequested: pending.requestCDA)
        guard let kind = ApplicationCryptogram.kind(fromCID: cid) else {
            throw .cardData("CID \(Hex.encode([cid])) is RFU")
        }
        // S9.23 (Book 3 §6.5.5, GENERATE AC): the card may return the cryptogram asked for or a lower one, never a higher one — a TC
        // only when a TC was asked for, an ARQC when a TC or an ARQC was, an AAC always.
        guard kind.isAllowedAnswer(to: pending.requested) else {
            throw .cardData("the card returned \(kind.rawValue) to a request for \(pending.requested.rawValue)")
        }

        var oda: ODAResult? = nil
        if pending.requestCDA {
            if kind == .aac && store[0x9F4B] == nil {
                // An AAC may come without a signature: nothing to verify, the card declined (S910.46 applies to a
                // signature that is there and fails).
                oda = nil
            } else {
                var r = EMVModeSteps.verifyCDA(
                    s, store: &store, genac: genac, staticData: pending.staticData, pdolData: pending.pdolData,
                    cdolData: pending.cdolData)
                // S910.3.1 / S910.4.1: after relay resistance the ICC Dynamic Data must carry the RRP values (terminal and
                // device entropy, min and max processing times, estimated transmission time) exactly as exchanged —
                // absent or different values are a CDA failure (a relay that answered ERRD itself).
                if r.succeeded, let rrp, !(r.cdaTrailingData ?? []).starts(with: rrp.signedFields) {
                    r = ODAResult(
                        method: .cda,
                        failure: .dynamicDataInvalid("the relay resistance values are not the ones exchanged"))
                }
                // With CDA the cryptogram exists only inside a signature that verified (Book 2 §6.6.2).
                if !r.succeeded { store[0x9F26] = nil }
                cryptogramValue = store[0x9F26] ?? []
                oda = r
            }
        } else if let cdaPreFailure {
            // CDA was selected but could not be asked for: reported as failed with the reason (CA key, data missing).
            oda = ODAResult(method: .cda, failure: cdaPreFailure)
        }
        oda?.apply(to: &tvr)

        var outcome = Outcome(.declined)
        outcome.maskedPAN = CardDataMask.pan(pan)
        outcome.applicationLabel = store[0x50].map { String(decoding: $0, as: UTF8.self) }
        outcome.cryptogram =
            cryptogramValue.isEmpty
            ? nil : ApplicationCryptogram(kind: kind, value: cryptogramValue, atc: store[0x9F36] ?? [])
        outcome.oda = oda
        outcome.cvmResults = pending.cvm.cvmResults
        if pending.requestCDA, let oda, !oda.succeeded {
            // S910.46: CDA failed → End Application, L2 CAM FAILED; nothing the card signed is used.
            outcome.kind = .endApplication
            outcome.reason = "CDA failed: \(oda.failure!)"
            outcome.errorIndication = ErrorIndication(l2: .camFailed, messageOnError: .insertSwipeOrTryAnotherCard)
            outcome.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .notReady, holdTimeMilliseconds: 1300)
            outcome.tvr = tvr
            outcome.transactionData = store
            return outcome
        }
        // S910.71-S910.73: a phone that wants its user first says so in the POS Cardholder Interaction Information
        // (DF4B & 00030F ≠ 0), whatever the cryptogram: End Application, restart at Start B, with the message the
        // Phone Message Table (DF8131) gives for that PCII.
        if let pcii = store[0xDF4B], PhoneMessageTable.asksForCardholder(pcii) {
            let table = store[0xDF8131].flatMap { PhoneMessageTable(bytes: $0) } ?? .default
            let (message, status) = table.message(for: pcii)
            var o = Outcome(
                .seePhone,
                reason: "the device asks the cardholder to look at it (POS Cardholder Interaction Information)")
            o.bookStatus = .endApplication
            o.start = .b
            o.uiRequestOnOutcome = UIRequest(message, status, holdTimeMilliseconds: 1300)
            o.uiRequestOnRestart = UIRequest(.presentCard, .readyToRead)
            o.maskedPAN = CardDataMask.pan(pan)
            o.oda = oda
            return o
        }
        switch kind {
        case .tc where pending.cvm.outcomeCVM == .onlinePIN:
            outcome.kind = .declined
            outcome.reason = "the card approved offline a transaction that needs online PIN"
        case .tc:
            outcome.kind = .approved
            outcome.reason = "approved offline (TC, CDA verified)"
        case .arqc:
            outcome.kind = .onlineRequest
            outcome.reason = "the card asks for online authorisation (ARQC)"
        case .aac:
            // S910.74-S910.75: an AAC on a purchase, cash or cashback is Declined when the device is a phone (Third
            // Party Data 9F6E) or the reader has no contact interface (9F33 byte 1 b6), else Try Another Interface;
            // on other transaction types End Application.
            let type = store[0x9C]?.first ?? 0x00
            if [0x00, 0x01, 0x09, 0x17].contains(type) {
                let caps = store[0x9F33] ?? []
                let contact = caps.count == 3 && caps[0] & 0x20 != 0
                if isMobileDevice(store[0x9F6E]) || !contact {
                    outcome.kind = .declined
                    outcome.reason = "the card declined (AAC)"
                } else {
                    outcome.kind = .tryAnotherInterface
                    outcome.reason = "the card declined contactless (AAC): insert the card"
                }
            } else {
                outcome.kind = .endApplication
                outcome.reason = "the card answered AAC"
            }
        }
        outcome.cvm =
            outcome.kind == .approved || outcome.kind == .onlineRequest ? pending.cvm.outcomeCVM : .notApplicable
        // A signature CVM asks for a receipt (Book C-2 CVM selection).
        outcome.receipt = outcome.cvm == .signature
        outcome.uiRequestOnOutcome = QuickKernel.uiRequest(for: outcome)
        outcome.tvr = tvr
        // 95 stays as sent in CDOL1: the cryptogram covers that value (the kernel's later view is `outcome.tvr`).
        outcome.transactionData = store
        outcome.dataRecordTags = DataRecord.c2Tags
        outcome.discretionaryDataTags = [0x9F5D, 0x9F42, 0x9F50, 0x9F6E, 0xDF4B]
        return outcome
    }

    /// What GENERATE AC was sent with, so its answer can be judged — for this transaction or a recovered torn one.
    struct Pending: Sendable {
        var store: TLVStore
        var pdolData: [UInt8]
        var cdolData: [UInt8]
        var staticData: [UInt8]
        var requested: ApplicationCryptogram.Kind
        var requestCDA: Bool
        var cvm: CardholderVerification.Result
        var tvr: TerminalVerificationResults
    }

    /// Book C-2 Annex A: Max Number of Torn Transaction Log Records (DF811D, default 2) and Max Lifetime of a Torn
    /// Transaction Log Record (DF811C, seconds, default 300).
    static func tornLimits(_ store: TLVStore) -> (records: Int, lifetime: Duration) {
        let records = Int(store[0xDF811D]?.first ?? 2)
        let seconds = store[0xDF811C].flatMap { $0.count == 2 ? Int($0[0]) << 8 | Int($0[1]) : nil } ?? 300
        return (records, .seconds(seconds))
    }

    /// GENERATE AC. When the card is lost during it and the card has a DRDOL (9F51), the transaction is recorded in
    /// the torn transaction log (S9.5-S9.15) and the outcome asks for the card again (End Application, Start B).
    static func generateAC(_ s: KernelSession, pan: String, pending p: Pending) async throws(KernelFailure)
        -> ResponseAPDU
    {
        let request: CommandAPDU.CryptogramRequest = p.requested == .arqc ? .arqc : p.requested == .tc ? .tc : .aac
        do {
            return try await KernelSteps.send(s, .generateAC(request, cda: p.requestCDA, cdolData: p.cdolData))
        } catch {
            guard case .communication = error, let drdolBytes = p.store[0x9F51],
                let drdol = try? DataObjectList(parsing: drdolBytes),
                !pan.isEmpty
            else { throw error }
            let limits = tornLimits(p.store)
            guard limits.records > 0 else { throw error }
            let drdolData = drdol.build(context: .c2) { p.store[$0] }
            await s.tornTransactions.add(
                .init(
                    pan: pan, panSequenceNumber: p.store[0x5F34], drdolRelatedData: drdolData, sent: p,
                    created: ContinuousClock.now), max: limits.records)
            throw .torn(error.description)
        }
    }

    /// S456.43-S456.48: with a DRDOL and a torn record of this card (same PAN and PAN sequence number, for the same
    /// amount and currency: tapd recovers a torn transaction only for the sale it belonged to), RECOVER AC with the
    /// recorded DRDOL related data. A successful answer finishes the torn transaction with its own data; any other
    /// status gives up the record and the kernel sends GENERATE AC (S10.7-S10.8). Losing the card again keeps it.
    static func recoverTornTransaction(_ s: KernelSession, pan: String, current: Pending) async throws(KernelFailure)
        -> (ResponseAPDU, Pending)?
    {
        guard current.store[0x9F51] != nil, !pan.isEmpty else { return nil }
        let limits = tornLimits(current.store)
        guard limits.records > 0,
            let torn = await s.tornTransactions.take(
                pan: pan, panSequenceNumber: current.store[0x5F34], lifetime: limits.lifetime)
        else {
            return nil
        }
        guard torn.sent.store[0x9F02] == current.store[0x9F02], torn.sent.store[0x5F2A] == current.store[0x5F2A] else {
            return nil
        }
        let answer: ResponseAPDU
        do {
            answer = try await KernelSteps.send(s, .recoverAC(drdolData: torn.drdolRelatedData))
        } catch {
            if case .communication = error { await s.tornTransactions.add(torn, max: limits.records) }
            throw error
        }
        guard answer.status.isSuccess else { return nil }
        // The torn transaction is finished as it was sent, with its own terminal data.
        var recovered = torn.sent
        recovered.store[0xDF8113] = torn.drdolRelatedData
        return (answer, recovered)
    }

    /// Book C-2 Annex A 9F6E Third Party Data: country code (2), unique identifier (2), then — when the identifier's
    /// b16 is 0 — the device type (2, an); a device type other than "00" (a card) is a mobile device.
    static func isMobileDevice(_ thirdPartyData: [UInt8]?) -> Bool {
        guard let t = thirdPartyData, t.count >= 6, t[2] & 0x80 == 0 else { return false }
        return !(t[4] == 0x30 && t[5] == 0x30)
    }

    /// Terminal CVM capability above the CVM required limit (DF8118), from the reader's abilities.
    static func cvmCapabilityRequired(_ c: TerminalConfiguration) -> UInt8 {
        (c.supportsOnlinePIN ? 0x40 : 0) | (c.supportsSignature ? 0x20 : 0)
    }
}

extension ApplicationCryptogram.Kind {
    /// Book 3 §6.5.5 / Book C-2 S9.23: whether a card may answer a request for `requested` with this type (the one
    /// asked for or a lower one: TC > ARQC > AAC).
    public func isAllowedAnswer(to requested: ApplicationCryptogram.Kind) -> Bool {
        switch (requested, self) {
        case (_, .aac): return true
        case (.tc, .arqc), (.arqc, .arqc): return true
        case (.tc, .tc): return true
        default: return false
        }
    }
}
