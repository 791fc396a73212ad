import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `--metrics-address`: serves a `MetricsState` over HTTP (`/metrics`,
/// `/healthz`) with SwiftNIO, on one event-loop thread of its own. Only the
/// transport lives here; what is answered is the state's.
public final class MetricsEndpoint: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Binds and listens before returning (so that `--user` may drop
    /// privileges after); a refused address is a `ConfigError` naming `source`
    /// (the flag, variable or key the address came from).
    public init(address: ListenAddress, source: ConfigSource, serving state: MetricsState) throws(ConfigError) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A connection that sends nothing for 30 s is closed (a scraper asks every few seconds).
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(state: state))
                }
            }
        do {
            channel = try bootstrap.bind(host: address.host, port: Int(address.port)).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw ConfigError(source: source, Self.explain(error, address: address))
        }
    }

    /// Stops listening and closes the connections.
    public func close() {
        channel.close(promise: nil)
        try? group.syncShutdownGracefully()
    }

    /// One request at a time per connection: the state answers, the handler sends.
    private final class HTTPHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let state: MetricsState
        private var request: HTTPRequestHead?

        init(state: MetricsState) {
            self.state = state
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent {
                context.close(promise: nil)
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): request = head
            case .body: break
            case .end:
                guard let head = request else { return }
                request = nil
                let response = state.respond(method: head.method.rawValue, uri: head.uri)
                let status = HTTPResponseStatus(statusCode: response.status)
                var headers = HTTPHeaders([("Content-Type", response.contentType), ("Content-Length", "\(response.body.utf8.count)")])
                if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
                if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
                if head.method != .HEAD {
                    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
                }
                let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
                if !head.isKeepAlive {
                    // On the channel's own loop, where the handler runs: the context needs no Sendable capture.
                    written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                }
            }
        }
    }

    private static func explain(_ error: any Error, address: ListenAddress) -> String {
        guard let code = (error as? IOError)?.errnoCode else { return "cannot listen on \(address): \(error)" }
        let hint = switch code {
        case EADDRINUSE: "another process listens there; choose another port"
        case EACCES: "ports below 1024 need CAP_NET_BIND_SERVICE; choose a port from 1024"
        case EADDRNOTAVAIL: "no interface of this host has that address"
        default: "choose another address"
        }
        return "cannot listen on \(address) (\(errorName(code))): \(hint)"
    }
}
