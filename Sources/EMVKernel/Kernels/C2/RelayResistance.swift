// The Relay Resistance Protocol of Kernel C-2 (Book C-2 §5.3 EXCHANGE RELAY RESISTANCE DATA and the RRP
// processing): the terminal sends 4 random bytes, times the answer, and compares the time the device needed
// with the limits the device states, allowing for the expected transmission times and grace periods.
// Times are in units of 100 µs, as in the book.

import APDU
import EMVCrypto
import TLV

public struct RelayResistanceResult: Sendable, Equatable {
    public var terminalEntropy: [UInt8]
    public var deviceEntropy: [UInt8]
    public var minTimeForProcessing: UInt16
    public var maxTimeForProcessing: UInt16
    public var deviceEstimatedTransmissionTime: UInt16
    /// Measured processing time in 100 µs units after subtracting the expected transmission times.
    public var measuredProcessingTime: UInt16
    public var attempts: Int
    public var timeLimitsExceeded: Bool
    public var thresholdExceeded: Bool

    /// The RRP values as the card signs them in CDA (Book C-2: appended to the ICC Dynamic Data).
    public var signedFields: [UInt8] {
        terminalEntropy + deviceEntropy + be(minTimeForProcessing) + be(maxTimeForProcessing)
            + be(deviceEstimatedTransmissionTime)
    }
    private func be(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
}

enum RelayResistance {
    /// Runs the protocol; at most three exchanges when the device is too slow (Book C-2: RRP counter ≤ 2 retries).
    static func perform(_ s: KernelSession, config: RelayResistanceConfiguration) async throws(KernelFailure)
        -> RelayResistanceResult
    {
        var attempts = 0
        while true {
            attempts += 1
            // A replay uses the recorded entropy (DF8301) so the recorded signatures still verify.
            let entropy = (attempts == 1 ? s.overrides[0xDF8301] : nil) ?? secureRandomBytes(4)
            let clock = ContinuousClock()
            let start = clock.now
            let r = try await KernelSteps.send(s, .exchangeRelayResistanceData(entropy: entropy))
            let elapsed = clock.now - start
            guard r.status.isSuccess else { throw .status("EXCHANGE RELAY RESISTANCE DATA", r.status) }
            guard let t = try? TLVParser.parseOne(r.data), t.tag == 0x80, t.value.count == 10 else {
                throw .cardData("EXCHANGE RELAY RESISTANCE DATA response is not an 80 template of 10 bytes")
            }
            let v = Array(t.value)
            let minT = UInt16(v[4]) << 8 | UInt16(v[5])
            let maxT = UInt16(v[6]) << 8 | UInt16(v[7])
            let devTT = UInt16(v[8]) << 8 | UInt16(v[9])
            let units =
                Int(elapsed.components.seconds) * 10_000 + Int(elapsed.components.attoseconds / 100_000_000_000_000)
            var processing = max(
                0,
                units - Int(config.expectedTransmissionTimeCAPDU)
                    - Int(min(devTT, config.expectedTransmissionTimeRAPDU)))
            if !s.timingChecks { processing = Int(minT) }  // replay: take the device at its word
            // Faster than the device can be: a sign of a replayed or synthetic answer. Book C-2 ends the transaction.
            if processing < Int(minT) - Int(config.minimumGracePeriod) {
                throw .cardData("relay resistance: the device answered faster than its minimum processing time")
            }
            let tooSlow = processing > Int(maxT) + Int(config.maximumGracePeriod)
            if tooSlow && attempts < 3 { continue }
            let mismatch =
                devTT != 0 && config.expectedTransmissionTimeRAPDU != 0
                && (Int(devTT) * 100 / Int(config.expectedTransmissionTimeRAPDU) < Int(config.mismatchThresholdPercent)
                    || Int(config.expectedTransmissionTimeRAPDU) * 100 / Int(devTT)
                        < Int(config.mismatchThresholdPercent))
            let inaccurate = processing - Int(minT) > Int(config.accuracyThreshold)
            return RelayResistanceResult(
                terminalEntropy: entropy, deviceEntropy: Array(v[0..<4]), minTimeForProcessing: minT,
                maxTimeForProcessing: maxT, deviceEstimatedTransmissionTime: devTT,
                measuredProcessingTime: UInt16(clamping: processing), attempts: attempts,
                timeLimitsExceeded: tooSlow, thresholdExceeded: !tooSlow && (mismatch || inaccurate))
        }
    }
}
