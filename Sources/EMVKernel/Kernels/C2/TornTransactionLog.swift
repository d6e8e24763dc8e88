// Book C-2 v2.10 torn transaction recovery: when the card leaves during GENERATE AC the card may have computed a
// cryptogram (and counted the ATC) that the terminal never saw. If the card has a DRDOL (9F51) and the reader keeps
// a torn transaction log (Max Number of Torn Transaction Log Records DF811D > 0), the kernel records the transaction
// (S9.5-S9.15); at the next tap of the same card (PAN and PAN sequence number) within the record's lifetime (DF811C)
// it sends RECOVER AC with the recorded DRDOL related data instead of a new GENERATE AC (S456.43-S456.48), and the
// card answers with the cryptogram of the torn transaction. The log lives in memory for as long as Entry Point does.
import TLV

/// The reader's torn transaction log, shared by every activation of Kernel C-2.
public actor TornTransactionLog {
    /// What the torn transaction had sent and decided, to finish it from the RECOVER AC answer.
    struct Record: Sendable {
        let pan: String
        let panSequenceNumber: [UInt8]?
        let drdolRelatedData: [UInt8]
        /// What GENERATE AC was sent with.
        let sent: KernelC2.Pending
        let created: ContinuousClock.Instant
    }

    private var records: [Record] = []

    public init() {}

    /// Records a torn transaction, dropping the oldest beyond `max` (DF811D).
    func add(_ r: Record, max: Int) {
        guard max > 0 else { return }
        records.append(r)
        while records.count > max { records.removeFirst() }
    }

    /// The record of this card younger than `lifetime` (DF811C), removed from the log; older records are dropped.
    func take(pan: String, panSequenceNumber: [UInt8]?, lifetime: Duration) -> Record? {
        let now = ContinuousClock.now
        records.removeAll { now - $0.created > lifetime }
        guard let i = records.firstIndex(where: { $0.pan == pan && $0.panSequenceNumber == panSequenceNumber }) else {
            return nil
        }
        return records.remove(at: i)
    }

    /// How many torn transactions wait for their card.
    public var count: Int { records.count }
}
