// Wraps a virtual card and rewrites chosen answers, so each processing step can be tested against malformed
// and unexpected responses (wrong template, missing data, bad AFL, error status words, a card that vanishes).

import APDU
import TLV

final class InterceptingChannel: CardChannel {
    let inner: any CardChannel
    let rewrite: @Sendable (_ command: [UInt8], _ response: [UInt8]) throws -> [UInt8]

    init(
        _ inner: any CardChannel,
        rewrite: @escaping @Sendable (_ command: [UInt8], _ response: [UInt8]) throws -> [UInt8]
    ) {
        self.inner = inner
        self.rewrite = rewrite
    }

    func transmit(_ command: [UInt8]) async throws -> [UInt8] {
        try rewrite(command, try await inner.transmit(command))
    }
}

/// Rebuilds a 77 template without `tag`, keeping SW1 SW2.
func removing(_ tag: Tag, from response: [UInt8]) -> [UInt8] {
    let body = Array(response.dropLast(2))
    guard let t = try? TLVParser.parseOne(body) else { return response }
    return TLV(tag: t.tag, children: t.children.filter { $0.tag != tag }).encoded + response.suffix(2)
}

/// Replaces the value of `tag` inside a 77 template.
func replacing(_ tag: Tag, with value: [UInt8], in response: [UInt8]) -> [UInt8] {
    let body = Array(response.dropLast(2))
    guard let t = try? TLVParser.parseOne(body) else { return response }
    return TLV(tag: t.tag, children: t.children.map { $0.tag == tag ? TLV(tag: tag, value: value) : $0 }).encoded
        + response.suffix(2)
}
