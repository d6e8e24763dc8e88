// Length-framed messages on the byte stream, per the profile's framing. A frame announcing more than the
// maximum closes the connection before anything is buffered.

import ISO8583
import NIOCore

/// SwiftNIO decoder that cuts the byte stream into ISO 8583 messages by the profile's length header; a header
/// announcing zero or more than `maxLength` bytes throws before anything is buffered.
public struct ISOFrameDecoder: ByteToMessageDecoder {
    /// One message: the bytes after the length header.
    public typealias InboundOut = [UInt8]
    let framing: MessageSpec.Framing
    let maxLength: Int

    /// A decoder for the profile's `framing` that refuses messages longer than `maxLength` bytes.
    public init(framing: MessageSpec.Framing, maxLength: Int) {
        self.framing = framing
        self.maxLength = maxLength
    }

    /// Passes on each complete message and waits for more bytes otherwise; throws on a bad or too long length header.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let h = ISOFraming.headerLength(framing)
        guard let header = buffer.getBytes(at: buffer.readerIndex, length: h) else { return .needMoreData }
        guard let n = try ISOFraming.bodyLength(header, framing, max: maxLength) else { return .needMoreData }
        guard buffer.readableBytes >= h + n else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: h)
        let body = buffer.readBytes(length: n)!
        context.fireChannelRead(wrapInboundOut(body))
        return .continue
    }

    /// At the end of the stream: the same as `decode`.
    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}

/// Hands complete frames and the end of the connection to the link.
public final class FrameInboundHandler: ChannelInboundHandler, Sendable {
    /// One message from `ISOFrameDecoder`.
    public typealias InboundIn = [UInt8]
    let onFrame: @Sendable ([UInt8]) -> Void
    let onClose: @Sendable (String) -> Void

    /// `onFrame` receives each message; `onClose` receives why the connection ended.
    public init(onFrame: @escaping @Sendable ([UInt8]) -> Void, onClose: @escaping @Sendable (String) -> Void) {
        self.onFrame = onFrame
        self.onClose = onClose
    }

    /// Hands the message to `onFrame`.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) { onFrame(unwrapInboundIn(data)) }
    /// Reports "connection closed" to `onClose`.
    public func channelInactive(context: ChannelHandlerContext) { onClose("connection closed") }
    /// Reports the error to `onClose` and closes the connection.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onClose("\(error)")
        context.close(promise: nil)
    }
}
