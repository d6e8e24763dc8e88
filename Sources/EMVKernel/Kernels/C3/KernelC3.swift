// Kernel C-3: Visa qVSDC (EMV Contactless Book C-3 v2.10). The flow and its decisions are the shared quick kernel's
// (Kernels/Quick), whose citations are this book's; what is Visa's alone is here.

import TLV

public enum KernelC3 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.visa, s) { s throws(KernelFailure) in try await QuickKernel.process(s, rules: rules) }
    }

    static let rules = QuickKernel.Rules(
        kernel: .visa, context: .c3,
        // Book C-3 §5.4.2.1.
        requiredGPOTags: [0x82, 0x9F36, 0x9F26, 0x9F10],
        // Book C-3 Annex C: fDDA with RSA.
        fdda: { s, store, staticData in
            OfflineDataAuthenticator(keys: s.keys, transactionDate: s.transaction.date).performFDDA(
                rid: s.rid, data: store, staticData: staticData)
        },
        cryptogramKindFromIAD: { VisaIssuerApplicationData.cryptogramKind(iad: $0) },
        dataRecordTags: DataRecord.c3Tags, discretionaryDataTags: [0x9F5D, 0x9F6E])
}
