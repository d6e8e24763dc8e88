import ISO8583
// Length-framed messages on the byte stream, per the profile's framing. A frame announcing more than the
// maximum closes the connection before anything is buffered.
import NIOCore

public struct ISOFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = [UInt8]
    let framing: MessageSpec.Framing
    let maxLength: Int

    public init(framing: MessageSpec.Framing, maxLength: Int) {
        self.framing = framing
        self.maxLength = maxLength
    }

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

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}

/// Hands complete frames and the end of the connection to the link.
public final class FrameInboundHandler: ChannelInboundHandler, Sendable {
    public typealias InboundIn = [UInt8]
    let onFrame: @Sendable ([UInt8]) -> Void
    let onClose: @Sendable (String) -> Void

    public init(onFrame: @escaping @Sendable ([UInt8]) -> Void, onClose: @escaping @Sendable (String) -> Void) {
        self.onFrame = onFrame
        self.onClose = onClose
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) { onFrame(unwrapInboundIn(data)) }
    public func channelInactive(context: ChannelHandlerContext) { onClose("connection closed") }
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onClose("\(error)")
        context.close(promise: nil)
    }
}
