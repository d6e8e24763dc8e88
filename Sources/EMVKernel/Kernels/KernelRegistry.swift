// The kernels tapd has, by Kernel Identifier (Book B §3.3.2.5). Entry Point activates a kernel only through this
// table: adding a kernel is its own folder under Kernels/ and one line here.

public enum KernelRegistry {
    /// A kernel: given the session Entry Point prepared (Book B §3.4), it runs to one Outcome.
    public typealias Kernel = @Sendable (KernelSession) async -> Outcome

    static let kernels: [KernelID: Kernel] = [
        .mastercard: KernelC2.run,
        .visa: KernelC3.run,
        .amex: KernelC4.run,
        .jcb: KernelC5.run,
        .discover: KernelC6.run,
        .unionpay: KernelC7.run,
    ]

    /// The kernel for `id`, or nil when tapd has none.
    public static func kernel(for id: KernelID) -> Kernel? { kernels[id] }
}
