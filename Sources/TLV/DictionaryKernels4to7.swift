// Data elements of the kernels C-4 (American Express), C-5 (JCB), C-6 (Discover) and C-7 (UnionPay) whose meaning is
// the scheme's own. Sources: Book C-4 v2.11 §4.3 (as public implementations quote it), and for C-7 the PBOC 3.0
// texts JR/T 0025.12-2013 (qPBOC) and JR/T 0025.17-2013 (national algorithms), from which Book C-7 derives.

extension DataDictionary {
    static let kernel4Elements: [DataElement] = [
        DataElement(
            0x9F6D, "Contactless Reader Capabilities", .b, 1...1, .terminal, kernel: .c4, ref: "Book C-4 §4.3.3"),
        DataElement(
            0x9F6E, "Enhanced Contactless Reader Capabilities", .b, 4...4, .terminal, kernel: .c4,
            ref: "Book C-4 §4.3.4"),
        DataElement(
            0x9F70, "Card Interface and Payment Capabilities", .b, 2...2, .card, kernel: .c4,
            ref: "Book C-4 Annex A"),
        DataElement(0x9F71, "Mobile CVM Results", .b, 3...3, .card, kernel: .c4, ref: "Book C-4 Annex A"),
    ]

    static let kernel5Elements: [DataElement] = [
        DataElement(
            0x9F50, "Cardholder Verification Status", .b, 1...1, .card, kernel: .c5, ref: "Book C-5 5.8.3"),
        DataElement(
            0x9F52, "Terminal Compatibility Indicator", .b, 1...1, .terminal, kernel: .c5, ref: "Book C-5 5.2.1.5"),
        DataElement(
            0x9F53, "Terminal Interchange Profile", .b, 3...3, .terminal, kernel: .c5, ref: "Book C-5 5.2.1.8"),
        DataElement(0x9F60, "Issuer Update Parameter", .b, 1...1, .card, kernel: .c5, ref: "Book C-5 5.8.4"),
    ]

    static let kernel6Elements: [DataElement] = [
        DataElement(
            0x9F66, "Terminal Transaction Qualifiers (TTQ)", .b, 4...4, .terminal, kind: .bits(.ttq), kernel: .c6,
            ref: "Book C-6"),
        DataElement(0x9F71, "Card Processing Requirements", .b, 2...2, .card, kernel: .c6, ref: "Book C-6"),
    ]

    static let kernel7Elements: [DataElement] = [
        DataElement(
            0x9F66, "Terminal Transaction Qualifiers (TTQ)", .b, 4...4, .terminal, kind: .bits(.ttq), kernel: .c7,
            ref: "JR/T 0025.12 Table 3"),
        DataElement(
            0x9F6C, "Card Transaction Qualifiers (CTQ)", .b, 2...2, .card, kernel: .c7, ref: "JR/T 0025.12 Annex C"),
        DataElement(
            0x9F69, "Card Authentication Related Data", .b, 8...16, .card, kernel: .c7, ref: "JR/T 0025.12 Annex C"),
        DataElement(
            0x9F5D, "Available Offline Spending Amount", .n, 6...6, .card, kind: .amount, kernel: .c7,
            ref: "JR/T 0025.12 Table 11"),
        DataElement(
            0x9F63, "Product Identification Information", .b, 16...16, .card, kernel: .c7,
            ref: "JR/T 0025.12 Table 11"),
        DataElement(
            0xDF69, "SM Algorithm Support Indicator", .b, 1...1, .terminal, kernel: .c7, ref: "JR/T 0025.17 Table 18"),
        DataElement(
            0xDF60, "Extended Application Indicator", .b, 1...1, .terminal, kernel: .c7, ref: "JR/T 0025.12"),
    ]
}
