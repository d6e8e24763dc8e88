// EMV 4.4 Book 3 Annex A: data elements for payment applications (plus Book 1/2/4 entries they refer to).
// Lengths are in bytes; "var." lengths carry the upper bound the book gives (252 for record-bound data).

extension DataDictionary {
    static let book3Elements: [DataElement] = [
        DataElement(
            0x42, "Issuer Identification Number (IIN)", .n, 3...3, .card, templates: [0xBF0C, 0x73], kind: .number),
        DataElement(0x4F, "Application Dedicated File (ADF) Name", .b, 5...16, .card, templates: [0x61]),
        DataElement(0x50, "Application Label", .ans, 1...16, .card, templates: [0x61, 0xA5], kind: .text),
        DataElement(
            0x56, "Track 1 Data", .ans, 0...76, .card, templates: [0x70, 0x77], kind: .sensitiveTrack,
            ref: "Book C-2 Annex A"),
        DataElement(
            0x57, "Track 2 Equivalent Data", .b, 0...19, .card, templates: [0x70, 0x77], kind: .sensitiveTrack),
        DataElement(
            0x5A, "Application Primary Account Number (PAN)", .cn, 0...10, .card, templates: [0x70, 0x77],
            kind: .sensitivePAN),
        DataElement(0x5F20, "Cardholder Name", .ans, 2...26, .card, templates: [0x70, 0x77], kind: .sensitiveName),
        DataElement(0x5F24, "Application Expiration Date", .n, 3...3, .card, templates: [0x70, 0x77], kind: .date),
        DataElement(0x5F25, "Application Effective Date", .n, 3...3, .card, templates: [0x70, 0x77], kind: .date),
        DataElement(0x5F28, "Issuer Country Code", .n, 2...2, .card, templates: [0x70, 0x77], kind: .country),
        DataElement(0x5F2A, "Transaction Currency Code", .n, 2...2, .terminal, kind: .currency),
        DataElement(0x5F2D, "Language Preference", .an, 2...8, .card, templates: [0xA5], kind: .text),
        DataElement(0x5F30, "Service Code", .n, 2...2, .card, templates: [0x70, 0x77], kind: .number),
        DataElement(
            0x5F34, "Application PAN Sequence Number", .n, 1...1, .card, templates: [0x70, 0x77], kind: .number),
        DataElement(0x5F36, "Transaction Currency Exponent", .n, 1...1, .terminal, kind: .number),
        DataElement(0x5F50, "Issuer URL", .ans, 0...252, .card, templates: [0xBF0C, 0x73], kind: .text),
        DataElement(0x5F53, "International Bank Account Number (IBAN)", .b, 0...34, .card, templates: [0xBF0C, 0x73]),
        DataElement(0x5F54, "Bank Identifier Code (BIC)", .an, 8...11, .card, templates: [0xBF0C, 0x73], kind: .text),
        DataElement(
            0x5F55, "Issuer Country Code (alpha2 format)", .a, 2...2, .card, templates: [0xBF0C, 0x73], kind: .text),
        DataElement(
            0x5F56, "Issuer Country Code (alpha3 format)", .a, 3...3, .card, templates: [0xBF0C, 0x73], kind: .text),
        DataElement(0x5F57, "Account Type", .n, 1...1, .terminal, kind: .number),
        DataElement(0x61, "Application Template", .template, 0...252, .card, templates: [0x70, 0xBF0C]),
        DataElement(0x6F, "File Control Information (FCI) Template", .template, 0...252, .card),
        DataElement(0x70, "READ RECORD Response Message Template", .template, 0...252, .card),
        DataElement(0x71, "Issuer Script Template 1", .template, 0...128, .issuer),
        DataElement(0x72, "Issuer Script Template 2", .template, 0...128, .issuer),
        DataElement(0x73, "Directory Discretionary Template", .template, 0...252, .card, templates: [0x61]),
        DataElement(0x77, "Response Message Template Format 2", .template, 0...1024, .card),
        DataElement(0x80, "Response Message Template Format 1", .b, 0...1024, .card),
        DataElement(0x81, "Amount, Authorised (Binary)", .b, 4...4, .terminal, kind: .binaryAmount),
        DataElement(
            0x82, "Application Interchange Profile", .b, 2...2, .card, templates: [0x77, 0x80], kind: .bits(.aip)),
        DataElement(0x83, "Command Template", .b, 0...252, .terminal),
        DataElement(0x84, "Dedicated File (DF) Name", .b, 5...16, .card, templates: [0x6F]),
        DataElement(0x86, "Issuer Script Command", .b, 0...261, .issuer, templates: [0x71, 0x72]),
        DataElement(0x87, "Application Priority Indicator", .b, 1...1, .card, templates: [0x61, 0xA5]),
        DataElement(0x88, "Short File Identifier (SFI)", .b, 1...1, .card, templates: [0xA5]),
        DataElement(0x89, "Authorisation Code", .ans, 6...6, .issuer, kind: .text),
        DataElement(0x8A, "Authorisation Response Code", .an, 2...2, .issuer, kind: .text),
        DataElement(
            0x8C, "Card Risk Management Data Object List 1 (CDOL1)", .b, 0...252, .card, templates: [0x70, 0x77],
            kind: .dol),
        DataElement(
            0x8D, "Card Risk Management Data Object List 2 (CDOL2)", .b, 0...252, .card, templates: [0x70, 0x77],
            kind: .dol),
        DataElement(
            0x8E, "Cardholder Verification Method (CVM) List", .b, 8...252, .card, templates: [0x70, 0x77],
            kind: .cvmList),
        DataElement(0x8F, "Certification Authority Public Key Index", .b, 1...1, .card, templates: [0x70, 0x77]),
        DataElement(0x90, "Issuer Public Key Certificate", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(0x91, "Issuer Authentication Data", .b, 8...16, .issuer),
        DataElement(0x92, "Issuer Public Key Remainder", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(0x93, "Signed Static Application Data", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(0x94, "Application File Locator (AFL)", .b, 0...252, .card, templates: [0x77, 0x80], kind: .afl),
        DataElement(0x95, "Terminal Verification Results", .b, 5...5, .terminal, kind: .bits(.tvr)),
        DataElement(
            0x97, "Transaction Certificate Data Object List (TDOL)", .b, 0...252, .card, templates: [0x70, 0x77],
            kind: .dol),
        DataElement(0x98, "Transaction Certificate (TC) Hash Value", .b, 20...20, .terminal),
        DataElement(0x99, "Transaction Personal Identification Number (PIN) Data", .b, 0...252, .terminal),
        DataElement(0x9A, "Transaction Date", .n, 3...3, .terminal, kind: .date),
        DataElement(0x9B, "Transaction Status Information", .b, 2...2, .terminal, kind: .bits(.tsi)),
        DataElement(0x9C, "Transaction Type", .n, 1...1, .terminal, kind: .transactionType),
        DataElement(0x9D, "Directory Definition File (DDF) Name", .b, 5...16, .card, templates: [0x61]),
        DataElement(0x9F01, "Acquirer Identifier", .n, 6...6, .terminal, kind: .number),
        DataElement(0x9F02, "Amount, Authorised (Numeric)", .n, 6...6, .terminal, kind: .amount),
        DataElement(0x9F03, "Amount, Other (Numeric)", .n, 6...6, .terminal, kind: .amount),
        DataElement(0x9F04, "Amount, Other (Binary)", .b, 4...4, .terminal, kind: .binaryAmount),
        DataElement(0x9F05, "Application Discretionary Data", .b, 1...32, .card, templates: [0x70, 0x77]),
        DataElement(0x9F06, "Application Identifier (AID) – terminal", .b, 5...16, .terminal),
        DataElement(0x9F07, "Application Usage Control", .b, 2...2, .card, templates: [0x70, 0x77], kind: .bits(.auc)),
        DataElement(0x9F08, "Application Version Number (ICC)", .b, 2...2, .card, templates: [0x70, 0x77]),
        DataElement(0x9F09, "Application Version Number (terminal)", .b, 2...2, .terminal),
        DataElement(
            0x9F0B, "Cardholder Name Extended", .ans, 27...45, .card, templates: [0x70, 0x77], kind: .sensitiveName),
        DataElement(
            0x9F0C, "Issuer Identification Number Extended (IINE)", .n, 3...4, .card, templates: [0xBF0C, 0x73],
            kind: .number),
        DataElement(
            0x9F0D, "Issuer Action Code – Default", .b, 5...5, .card, templates: [0x70, 0x77], kind: .bits(.tvr)),
        DataElement(
            0x9F0E, "Issuer Action Code – Denial", .b, 5...5, .card, templates: [0x70, 0x77], kind: .bits(.tvr)),
        DataElement(
            0x9F0F, "Issuer Action Code – Online", .b, 5...5, .card, templates: [0x70, 0x77], kind: .bits(.tvr)),
        DataElement(0x9F10, "Issuer Application Data", .b, 0...32, .card, templates: [0x77, 0x80]),
        DataElement(0x9F11, "Issuer Code Table Index", .n, 1...1, .card, templates: [0xA5], kind: .number),
        DataElement(0x9F12, "Application Preferred Name", .ans, 1...16, .card, templates: [0x61, 0xA5], kind: .text),
        DataElement(0x9F13, "Last Online Application Transaction Counter (ATC) Register", .b, 2...2, .card),
        DataElement(0x9F14, "Lower Consecutive Offline Limit", .b, 1...1, .card, templates: [0x70, 0x77]),
        DataElement(0x9F15, "Merchant Category Code", .n, 2...2, .terminal, kind: .number),
        DataElement(0x9F16, "Merchant Identifier", .ans, 15...15, .terminal, kind: .text),
        DataElement(0x9F17, "Personal Identification Number (PIN) Try Counter", .b, 1...1, .card),
        DataElement(0x9F18, "Issuer Script Identifier", .b, 4...4, .issuer, templates: [0x71, 0x72]),
        DataElement(
            0x9F19, "Token Requestor ID", .n, 6...6, .card, kind: .number, ref: "EMV Payment Tokenisation Framework"),
        DataElement(0x9F1A, "Terminal Country Code", .n, 2...2, .terminal, kind: .country),
        DataElement(0x9F1B, "Terminal Floor Limit", .b, 4...4, .terminal, kind: .binaryAmount),
        DataElement(0x9F1C, "Terminal Identification", .an, 8...8, .terminal, kind: .text),
        DataElement(0x9F1D, "Terminal Risk Management Data", .b, 1...8, .terminal),
        DataElement(0x9F1E, "Interface Device (IFD) Serial Number", .an, 8...8, .terminal, kind: .text),
        DataElement(
            0x9F1F, "Track 1 Discretionary Data", .ans, 0...54, .card, templates: [0x70, 0x77], kind: .sensitiveTrack),
        DataElement(
            0x9F20, "Track 2 Discretionary Data", .cn, 0...16, .card, templates: [0x70, 0x77], kind: .sensitiveTrack),
        DataElement(0x9F21, "Transaction Time", .n, 3...3, .terminal, kind: .time),
        DataElement(0x9F22, "Certification Authority Public Key Index (terminal)", .b, 1...1, .terminal),
        DataElement(0x9F23, "Upper Consecutive Offline Limit", .b, 1...1, .card, templates: [0x70, 0x77]),
        DataElement(
            0x9F24, "Payment Account Reference (PAR)", .an, 29...29, .card, kind: .text,
            ref: "EMV Payment Account Reference"),
        DataElement(
            0x9F25, "Last 4 Digits of PAN", .n, 2...2, .card, kind: .number, ref: "EMV Payment Tokenisation Framework"),
        DataElement(0x9F26, "Application Cryptogram", .b, 8...8, .card, templates: [0x77, 0x80]),
        DataElement(
            0x9F27, "Cryptogram Information Data", .b, 1...1, .card, templates: [0x77, 0x80], kind: .bits(.cid)),
        DataElement(
            0x9F2D, "ICC PIN Encipherment Public Key Certificate", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(0x9F2E, "ICC PIN Encipherment Public Key Exponent", .b, 1...3, .card, templates: [0x70, 0x77]),
        DataElement(0x9F2F, "ICC PIN Encipherment Public Key Remainder", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(0x9F32, "Issuer Public Key Exponent", .b, 1...3, .card, templates: [0x70, 0x77]),
        DataElement(0x9F33, "Terminal Capabilities", .b, 3...3, .terminal, kind: .bits(.terminalCapabilities)),
        DataElement(
            0x9F34, "Cardholder Verification Method (CVM) Results", .b, 3...3, .terminal, kind: .bits(.cvmResults)),
        DataElement(0x9F35, "Terminal Type", .n, 1...1, .terminal, kind: .number),
        DataElement(0x9F36, "Application Transaction Counter (ATC)", .b, 2...2, .card, templates: [0x77, 0x80]),
        DataElement(0x9F37, "Unpredictable Number", .b, 4...4, .terminal),
        DataElement(
            0x9F38, "Processing Options Data Object List (PDOL)", .b, 0...252, .card, templates: [0xA5], kind: .dol),
        DataElement(0x9F39, "Point-of-Service (POS) Entry Mode", .n, 1...1, .terminal, kind: .number),
        DataElement(0x9F3A, "Amount, Reference Currency", .b, 4...4, .terminal, kind: .binaryAmount),
        DataElement(0x9F3B, "Application Reference Currency", .n, 2...8, .card, templates: [0x70, 0x77]),
        DataElement(0x9F3C, "Transaction Reference Currency Code", .n, 2...2, .terminal, kind: .currency),
        DataElement(0x9F3D, "Transaction Reference Currency Exponent", .n, 1...1, .terminal, kind: .number),
        DataElement(
            0x9F40, "Additional Terminal Capabilities", .b, 5...5, .terminal,
            kind: .bits(.additionalTerminalCapabilities)),
        DataElement(0x9F41, "Transaction Sequence Counter", .n, 2...4, .terminal, kind: .number),
        DataElement(0x9F42, "Application Currency Code", .n, 2...2, .card, templates: [0x70, 0x77], kind: .currency),
        DataElement(0x9F43, "Application Reference Currency Exponent", .n, 1...4, .card, templates: [0x70, 0x77]),
        DataElement(0x9F44, "Application Currency Exponent", .n, 1...1, .card, templates: [0x70, 0x77], kind: .number),
        DataElement(0x9F45, "Data Authentication Code", .b, 2...2, .card),
        DataElement(0x9F46, "ICC Public Key Certificate", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(0x9F47, "ICC Public Key Exponent", .b, 1...3, .card, templates: [0x70, 0x77]),
        DataElement(0x9F48, "ICC Public Key Remainder", .b, 0...248, .card, templates: [0x70, 0x77]),
        DataElement(
            0x9F49, "Dynamic Data Authentication Data Object List (DDOL)", .b, 0...252, .card, templates: [0x70, 0x77],
            kind: .dol),
        DataElement(0x9F4A, "Static Data Authentication Tag List", .b, 0...252, .card, templates: [0x70, 0x77]),
        DataElement(0x9F4B, "Signed Dynamic Application Data", .b, 0...248, .card, templates: [0x77, 0x80]),
        DataElement(0x9F4C, "ICC Dynamic Number", .b, 2...8, .card),
        DataElement(0x9F4D, "Log Entry", .b, 2...2, .card, templates: [0xBF0C, 0x73]),
        DataElement(0x9F4E, "Merchant Name and Location", .ans, 0...252, .terminal, kind: .text),
        DataElement(0x9F4F, "Log Format", .b, 0...252, .card, kind: .dol),
        DataElement(0x9F53, "Transaction Category Code", .an, 1...1, .terminal, kind: .text, ref: "Mastercard"),
        DataElement(
            0xA5, "File Control Information (FCI) Proprietary Template", .template, 0...252, .card, templates: [0x6F]),
        DataElement(
            0xBF0C, "File Control Information (FCI) Issuer Discretionary Data", .template, 0...222, .card,
            templates: [0xA5]),
    ]
}
