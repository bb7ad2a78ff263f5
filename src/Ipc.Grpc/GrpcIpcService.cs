using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Ipc.Grpc.Protocol;
using Ipc.Transports;
using Microsoft.Extensions.Logging;

namespace Ipc.Grpc;

/// <summary>
/// The envelope service: hands each call to the endpoint's dispatcher. One instance serves an endpoint, on the transport's
/// own Kestrel or mapped into an app with <c>MapIpcGrpc</c>. Its methods are bound by <see cref="GrpcServiceBinding"/>, whose
/// marshaller answers an envelope that does not parse as the caller's mistake.
/// </summary>
[BindServiceMethod(typeof(GrpcServiceBinding), nameof(GrpcServiceBinding.BindService))]
internal sealed partial class GrpcIpcService(Func<GrpcServerTarget> target) : IpcService.IpcServiceBase
{
    private GrpcServerTarget? _target;

    private GrpcServerTarget Target => _target ??= target();

    public override async Task<IpcEnvelope> Request(IpcEnvelope request, ServerCallContext context)
    {
        var server = Target;
        var message = server.Receive(request, context);
        using var call = server.Link(context.CancellationToken);
        try
        {
            var pending = server.Dispatcher.DispatchRequestAsync(message, call.Token);

            // Waits on the call's token too, so a handler that ignores it cannot hold a stopping server.
            var response = pending.IsCompletedSuccessfully ? pending.Result : await pending.AsTask().WaitAsync(call.Token).ConfigureAwait(false);
            return response.Fault is { } fault ? throw GrpcErrors.ToRpcException(fault) : GrpcEnvelopes.ToReplyEnvelope(response);
        }
        catch (OperationCanceledException) when (server.IsStopping)
        {
            throw server.Stopped();
        }
    }

    public override async Task<Empty> Send(IpcEnvelope request, ServerCallContext context)
    {
        var server = Target;
        var message = server.Receive(request, context);
        using var call = server.Link(context.CancellationToken);
        try
        {
            // The dispatcher logs a handler's failure; a one-way sender is not told.
            await server.Dispatcher.DispatchOneWayAsync(message, call.Token).AsTask().WaitAsync(call.Token).ConfigureAwait(false);
            return Empty;
        }
        catch (OperationCanceledException) when (server.IsStopping)
        {
            throw server.Stopped();
        }
    }

    public override async Task Stream(IpcEnvelope request, IServerStreamWriter<IpcEnvelope> responseStream, ServerCallContext context)
    {
        var server = Target;
        var message = server.Receive(request, context);
        using var call = server.Link(context.CancellationToken);
        // Each move waits on the call's token too, so a producer that ignores it cannot hold a stopping server.
        var items = new DispatchedStream(server.Dispatcher.DispatchStreamAsync(message, call.Token).GetAsyncEnumerator(call.Token));
        try
        {
            while (await items.MoveNextAsync(call.Token).ConfigureAwait(false))
            {
                var item = items.Current;
                if (item.Fault is { } fault)
                {
                    throw GrpcErrors.ToRpcException(fault);
                }

                await responseStream.WriteAsync(GrpcEnvelopes.ToReplyEnvelope(item), call.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (server.IsStopping)
        {
            throw server.Stopped();
        }
        finally
        {
            await items.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static readonly Empty Empty = new();
}

/// <summary>What the envelope service serves: the endpoint's dispatcher, its limits and, on its own Kestrel, the stop signal.</summary>
internal sealed partial class GrpcServerTarget(IIpcDispatcher dispatcher, ILogger logger, CancellationToken stopping = default)
{
    public IIpcDispatcher Dispatcher { get; } = dispatcher;

    public bool IsStopping => stopping.IsCancellationRequested;

    /// <summary>Turns a call into the message to dispatch: envelope, metadata and the call's deadline as the time left.</summary>
    public IpcMessage Receive(IpcEnvelope envelope, ServerCallContext context)
    {
        if (envelope.Body.Length > Dispatcher.MaxMessageSize)
        {
            Log.TooLarge(logger, envelope.Route, envelope.Body.Length, Dispatcher.EndpointName, Dispatcher.MaxMessageSize);
            throw GrpcErrors.ToRpcException(new IpcFault(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{envelope.Route}' is {envelope.Body.Length} bytes, over the {Dispatcher.MaxMessageSize}-byte MaxMessageSize of endpoint '{Dispatcher.EndpointName}'."));
        }

        if (envelope.Route.Length == 0)
        {
            throw GrpcErrors.ToRpcException(new IpcFault(IpcErrorCode.ProtocolError, "The envelope names no route. Set IpcEnvelope.route to the route to call."));
        }

        var http = context.GetHttpContext();
        var headers = http.Request.Headers;
        var message = GrpcEnvelopes.FromRequest(envelope, headers);
        message.RemoteAddress = Ipc.Peers.HttpPeer.Describe(http); // ServerCallContext.Peer's address, as ip:port

        // The time left as the caller sent it (grpc-timeout), so the deadline runs from the message's arrival by this
        // server's clock; the call's own deadline when that header cannot be read.
        if (GrpcEnvelopes.TryParseTimeout(headers["grpc-timeout"], out var timeout))
        {
            message.Timeout = timeout;
        }
        else if (context.Deadline != DateTime.MaxValue)
        {
            message.Timeout = context.Deadline - TimeProvider.System.GetUtcNow().UtcDateTime;
        }

        return message;
    }

    /// <summary>The token of one call: the call's own, and the server's stop when it runs on its own Kestrel.</summary>
    public CallToken Link(CancellationToken callToken) =>
        stopping.CanBeCanceled ? new CallToken(CancellationTokenSource.CreateLinkedTokenSource(callToken, stopping)) : new CallToken(callToken);

    public RpcException Stopped() =>
        GrpcErrors.ToRpcException(new IpcFault(IpcErrorCode.Unavailable, $"The server of endpoint '{Dispatcher.EndpointName}' stopped before the call completed."));

    /// <summary>A call's token, with the linked source (if any) that it disposes.</summary>
    internal readonly struct CallToken : IDisposable
    {
        private readonly CancellationTokenSource? _linked;

        public CallToken(CancellationTokenSource linked)
        {
            _linked = linked;
            Token = linked.Token;
        }

        public CallToken(CancellationToken token) => Token = token;

        public CancellationToken Token { get; }

        public void Dispose() => _linked?.Dispose();
    }
}
