import EdgeCore
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// A server-side WebSocket over an upgraded connection (RFC 6455): messages reassembled from
/// their frames and bounded in size, pings answered, text checked as UTF-8, and the close
/// handshake in both directions, with the peer's code and reason kept.
///
/// One task reads the connection and hands complete messages to ``receive()`` one at a time (so
/// a slow reader slows the peer down); sends are serialized.
final class WebSocketConnection: EdgeWebSocket {
    private struct State {
        var message: EdgeCore.WebSocketMessage?
        var ended = false
        var receiver: CheckedContinuation<EdgeCore.WebSocketMessage?, any Error>?
        var reader: CheckedContinuation<Void, Never>?
        var closure: WebSocketClosure?
        var sentClose = false
        var failure: (any Error)?
    }

    private let state = Mutex(State())
    private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    private let writes = WriteLock()
    let maxMessageBytes: Int

    private init(outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>, maxMessageBytes: Int) {
        self.outbound = outbound
        self.maxMessageBytes = maxMessageBytes
    }

    /// Runs `body` with the socket of `channel`, reading frames meanwhile; closes the
    /// connection when `body` is done and the close handshake is over (or after 5 s).
    static func run(
        _ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, maxMessageBytes: Int, logger: Logger,
        _ body: @escaping @Sendable (WebSocketConnection) async -> Void
    ) async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                let socket = WebSocketConnection(outbound: outbound, maxMessageBytes: maxMessageBytes)
                await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await socket.read(inbound, logger: logger) }
                    await body(socket)
                    await socket.close(.normalClosure, reason: "")
                    // The peer answers the close frame; give it a moment, then drop the connection.
                    group.addTask {
                        try await Task.sleep(for: .seconds(5))
                        throw CancellationError()
                    }
                    _ = try? await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("WebSocket connection ended", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Reading

    private func read(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, logger: Logger) async {
        var fragments: [UInt8] = []
        var fragmentOpcode: WebSocketOpcode?
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .text, .binary:
                    guard fragmentOpcode == nil else { return await fail(.protocolError, "a new message began inside a fragmented one") }
                    var data = frame.unmaskedData
                    fragments = data.readBytes(length: data.readableBytes) ?? []
                    fragmentOpcode = frame.opcode
                case .continuation:
                    guard fragmentOpcode != nil else { return await fail(.protocolError, "a continuation frame without a message") }
                    var data = frame.unmaskedData
                    fragments += data.readBytes(length: data.readableBytes) ?? []
                case .ping:
                    try? await write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                    continue
                case .pong:
                    continue
                case .connectionClose:
                    var data = frame.unmaskedData
                    let code = data.readInteger(as: UInt16.self).map { WebSocketCloseCode(Int($0)) } ?? .noStatusReceived
                    let reason = data.readString(length: data.readableBytes) ?? ""
                    record(WebSocketClosure(code: code, reason: reason, wasClean: true))
                    // Answer with the same code (RFC 6455 §5.5.1), unless this end closed first.
                    await sendClose(code == .noStatusReceived ? .normalClosure : code, reason: "")
                    return end()
                default:
                    return await fail(.protocolError, "an unknown opcode")
                }
                if fragments.count > maxMessageBytes {
                    return await fail(.messageTooBig, "a message over the limit of \(maxMessageBytes) bytes")
                }
                guard frame.fin, let opcode = fragmentOpcode else { continue }
                let message: EdgeCore.WebSocketMessage
                if opcode == .text {
                    guard let text = String(validating: fragments, as: UTF8.self) else {
                        return await fail(WebSocketCloseCode(1007), "a text message that is not UTF-8")
                    }
                    message = .text(text)
                } else {
                    message = .binary(fragments)
                }
                fragments = []
                fragmentOpcode = nil
                await deliver(message)
            }
            // The connection ended without a close frame.
            record(WebSocketClosure(code: .abnormalClosure, reason: "the connection closed without a close frame", wasClean: false))
            end()
        } catch {
            logger.debug("WebSocket read failed", metadata: ["error": "\(error)"])
            record(WebSocketClosure(code: .abnormalClosure, reason: "\(error)", wasClean: false))
            end()
        }
    }

    /// Closes with `code` because the peer broke the protocol or a limit, and ends reading.
    private func fail(_ code: WebSocketCloseCode, _ reason: String) async {
        if code == .messageTooBig {
            state.withLock { $0.failure = WebSocketError(.messageTooBig, limit: maxMessageBytes, message: "\(reason); the socket was closed with 1009") }
        }
        record(WebSocketClosure(code: code, reason: reason, wasClean: true))
        await sendClose(code, reason: reason)
        end()
    }

    private func record(_ closure: WebSocketClosure) {
        state.withLock { state in
            if state.closure == nil { state.closure = closure }
        }
    }

    /// Hands a message to the reader and waits until it is taken.
    private func deliver(_ message: EdgeCore.WebSocketMessage) async {
        await withCheckedContinuation { (reader: CheckedContinuation<Void, Never>) in
            let receiver = state.withLock { state -> CheckedContinuation<EdgeCore.WebSocketMessage?, any Error>? in
                if let receiver = state.receiver {
                    state.receiver = nil
                    return receiver
                }
                state.message = message
                state.reader = reader
                return nil
            }
            if let receiver {
                receiver.resume(returning: message)
                reader.resume()
            }
        }
    }

    private func end() {
        let (receiver, reader, failure) = state.withLock { state in
            state.ended = true
            defer {
                state.receiver = nil
                state.reader = nil
            }
            return (state.receiver, state.reader, state.failure)
        }
        reader?.resume()
        if let receiver {
            if let failure { receiver.resume(throwing: failure) } else { receiver.resume(returning: nil) }
        }
    }

    // MARK: EdgeWebSocket

    var closure: WebSocketClosure? { state.withLock { $0.closure } }

    func receive() async throws -> EdgeCore.WebSocketMessage? {
        try await withCheckedThrowingContinuation { receiver in
            enum Action { case message(EdgeCore.WebSocketMessage, CheckedContinuation<Void, Never>?), end((any Error)?), wait }
            let action = state.withLock { state -> Action in
                if let message = state.message {
                    state.message = nil
                    defer { state.reader = nil }
                    return .message(message, state.reader)
                }
                if state.ended { return .end(state.failure) }
                state.receiver = receiver
                return .wait
            }
            switch action {
            case .message(let message, let reader):
                receiver.resume(returning: message)
                reader?.resume()
            case .end(let failure):
                if let failure { receiver.resume(throwing: failure) } else { receiver.resume(returning: nil) }
            case .wait:
                break
            }
        }
    }

    func send(_ message: EdgeCore.WebSocketMessage) async throws {
        guard !state.withLock({ $0.sentClose }) else { throw WebSocketError(.closed, message: "the WebSocket is closed") }
        switch message {
        case .text(let text): try await write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
        case .binary(let bytes): try await write(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: bytes)))
        }
    }

    func close(_ code: WebSocketCloseCode, reason: String) async {
        record(WebSocketClosure(code: code, reason: reason, wasClean: true))
        await sendClose(code, reason: reason)
    }

    private func sendClose(_ code: WebSocketCloseCode, reason: String) async {
        let first = state.withLock { state -> Bool in
            defer { state.sentClose = true }
            return !state.sentClose
        }
        guard first else { return }
        var data = ByteBuffer()
        data.writeInteger(UInt16(clamping: code.rawValue))
        data.writeString(String(reason.utf8.prefix(120)) ?? "")
        try? await write(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))
    }

    private func write(_ frame: WebSocketFrame) async throws {
        try await writes.withLock { try await outbound.write(frame) }
    }
}

/// Serializes async work (frames of concurrent senders must not interleave).
final class WriteLock: Sendable {
    private let state = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func withLock<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { continuation in
            let acquired = state.withLock { state -> Bool in
                if !state.busy {
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiters.isEmpty {
                    state.busy = false
                    return nil
                }
                return state.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
