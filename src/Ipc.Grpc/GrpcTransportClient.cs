using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using Grpc.Core;
using Ipc.Grpc.Protocol;
using Ipc.Transports;

namespace Ipc.Grpc;

/// <summary>
/// The client of one endpoint: calls of the envelope service on the endpoint's channel (one per endpoint, from
/// Grpc.Net.ClientFactory). A failure the server reports (a gRPC status) comes back as a response with its fault; a failure
/// to reach the server is raised.
/// </summary>
internal sealed class GrpcTransportClient(IpcTransportContext context, IpcService.IpcServiceClient client, Func<GrpcTls?> tls) : IIpcTransportClient
{
    /// <summary>Beyond this a time left is sent as no deadline at all (gRPC's own limit is about 100 million seconds).</summary>
    private static readonly TimeSpan s_longestDeadline = TimeSpan.FromDays(365);

    public async ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckSize(request);
        if (request.Timeout <= TimeSpan.Zero)
        {
            return IpcMessage.CreateFault(request, DeadlinePassed()); // it would reach the server with no time left: not sent
        }

        var envelope = GrpcEnvelopes.ToEnvelope(request);
        try
        {
            using var call = client.RequestAsync(envelope, Options(request, envelope, cancellationToken));
            return FromReply(await call.ResponseAsync.ConfigureAwait(false), request);
        }
        catch (RpcException ex)
        {
            return IpcMessage.CreateFault(request, Fail(ex, cancellationToken));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && request.Timeout is not null)
        {
            return IpcMessage.CreateFault(request, DeadlinePassed()); // the channel ends a call past its deadline as cancelled
        }
    }

    public async ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        CheckSize(message);
        if (message.Timeout <= TimeSpan.Zero)
        {
            throw DeadlinePassed().ToException(context.EndpointName);
        }

        var envelope = GrpcEnvelopes.ToEnvelope(message);
        try
        {
            using var call = client.SendAsync(envelope, Options(message, envelope, cancellationToken));
            await call.ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            throw Fail(ex, cancellationToken).ToException(context.EndpointName);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && message.Timeout is not null)
        {
            throw DeadlinePassed().ToException(context.EndpointName);
        }
    }

    public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) =>
        throw new IpcException(IpcErrorCode.NotSupported, $"The gRPC transport does not publish (endpoint '{context.EndpointName}'). Send to a route with SendAsync, or use a broker transport.");

    public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckSize(request);
        var envelope = GrpcEnvelopes.ToEnvelope(request);

        // Disposing the call (the consumer stopped) cancels it, and with it the server's handler.
        using var call = client.Stream(envelope, Options(request, envelope, cancellationToken));
        var items = call.ResponseStream;
        while (true)
        {
            IpcMessage item;
            try
            {
                if (!await items.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    yield break;
                }

                item = FromReply(items.Current, request);
            }
            catch (RpcException ex)
            {
                item = IpcMessage.CreateFault(request, Fail(ex, cancellationToken));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && Failed(call) is { } failed)
            {
                item = IpcMessage.CreateFault(request, Fail(failed, cancellationToken));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && request.Timeout is not null)
            {
                item = IpcMessage.CreateFault(request, DeadlinePassed());
            }

            yield return item;
            if (item.Fault is not null)
            {
                yield break;
            }
        }
    }

    public ValueTask DisposeAsync() => default; // the channel belongs to the client factory, which keeps one per endpoint

    private static CallOptions Options(IpcMessage message, IpcEnvelope envelope, CancellationToken cancellationToken)
    {
        DateTime? deadline = null;
        if (message.Timeout is { } timeout && timeout < s_longestDeadline)
        {
            deadline = TimeProvider.System.GetUtcNow().UtcDateTime + (timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero);
        }

        return new CallOptions(GrpcEnvelopes.ToMetadata(message, envelope), deadline, cancellationToken);
    }

    /// <summary>
    /// The failure of a stream call that the channel itself ended (the connection, the response's head): its stream then
    /// ends as cancelled (ThrowOperationCanceledOnCancellation), and the call's status says why.
    /// </summary>
    private static RpcException? Failed(AsyncServerStreamingCall<IpcEnvelope> call)
    {
        try
        {
            var status = call.GetStatus();
            return status.DebugException is null ? null : new RpcException(status);
        }
        catch (InvalidOperationException)
        {
            return null; // not ended
        }
    }

    private IpcMessage FromReply(IpcEnvelope reply, IpcMessage request)
    {
        // The channel's own limit leaves room for the envelope around the body: the body is held to MaxMessageSize here.
        if (reply.Body.Length > context.MaxMessageSize)
        {
            throw new IpcException(
                IpcErrorCode.MessageTooLarge,
                $"The {(reply.Route.Length == 0 ? "answer" : "answer of route '" + reply.Route + "'")} is {reply.Body.Length} bytes, over the {context.MaxMessageSize}-byte MaxMessageSize of endpoint '{context.EndpointName}'. Raise MaxMessageSize on the client.")
            {
                Endpoint = context.EndpointName,
            };
        }

        var response = GrpcEnvelopes.FromEnvelope(reply);
        if (reply.MessageId.Length == 0)
        {
            response.MessageId = request.MessageId;
        }

        if (reply.CorrelationId.Length == 0)
        {
            response.CorrelationId = request.CorrelationId;
        }

        return response;
    }

    private void CheckSize(IpcMessage message)
    {
        if (message.Body.Length > context.MaxMessageSize)
        {
            throw new IpcException(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the {context.MaxMessageSize}-byte MaxMessageSize of endpoint '{context.EndpointName}'.")
            {
                Endpoint = context.EndpointName,
                NotAccepted = true,
            };
        }
    }

    /// <summary>Raises a failure to reach the server; returns the fault of a status the server (or a proxy) answered.</summary>
    private IpcFault Fail(RpcException exception, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (exception.StatusCode == StatusCode.DeadlineExceeded && exception.Status.DebugException is null && exception.Trailers.GetValueBytes("grpc-status-details-bin") is null)
        {
            return DeadlinePassed();
        }

        if (IsNoIpcAnswer(exception))
        {
            return new IpcFault(
                IpcErrorCode.ProtocolError,
                $"The server at {context.DisplayAddress} (endpoint '{context.EndpointName}') gave an answer no Ipc gRPC server gives ({exception.Status.Detail.TrimEnd('.')}). Check that the address is an Ipc gRPC server's.");
        }

        if (TransportFailure(exception) is { } failure)
        {
            throw failure;
        }

        return GrpcErrors.ToFault(exception, context.DisplayAddress);
    }

    /// <summary>
    /// Gets a value indicating whether the channel failed the call on what came back rather than on the connection: a
    /// message that is no envelope (protobuf's error is an IOException, not to be read as a lost connection), or a
    /// response that is no gRPC one (another content type, a grpc-status that is not a number), which Grpc.Net.Client
    /// reports as Cancelled although nothing was cancelled.
    /// </summary>
    private static bool IsNoIpcAnswer(RpcException exception)
    {
        for (var inner = exception.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is Google.Protobuf.InvalidProtocolBufferException)
            {
                return true;
            }
        }

        return exception.StatusCode == StatusCode.Cancelled
            && (exception.Status.DebugException is InvalidOperationException || exception.Status.Detail.StartsWith("Bad gRPC response.", StringComparison.Ordinal));
    }

    private IpcFault DeadlinePassed() =>
        new(IpcErrorCode.Timeout, $"The call on endpoint '{context.EndpointName}' ({context.DisplayAddress}) passed its deadline.");

    private IpcException? TransportFailure(RpcException exception)
    {
        var debug = exception.Status.DebugException;
        for (var inner = debug; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case AuthenticationException auth:
                    var refusal = tls()?.LastRefusal;
                    return new IpcException(
                        IpcErrorCode.Unauthorized,
                        $"The TLS handshake with {context.DisplayAddress} (endpoint '{context.EndpointName}') failed: {(refusal is null ? auth.Message : $"this client refused the server's certificate: {refusal}.")} Each side must accept the other's certificate (Grpc:Tls).",
                        exception)
                    {
                        Endpoint = context.EndpointName,
                        NotAccepted = true,
                    };
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return new IpcException(IpcErrorCode.Unavailable, $"No server is listening on {context.DisplayAddress} (endpoint '{context.EndpointName}'). Start it, or check the address.", exception)
                    {
                        Endpoint = context.EndpointName,
                        NotAccepted = true,
                    };
            }
        }

        if (debug is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError })
        {
            return new IpcException(IpcErrorCode.Unavailable, $"The server on {context.DisplayAddress} (endpoint '{context.EndpointName}') cannot be reached: {debug.Message}", exception)
            {
                Endpoint = context.EndpointName,
                NotAccepted = true,
            };
        }

        if (ResponseHeaderLimit.Find(debug) is { } limit)
        {
            return new IpcException(IpcErrorCode.MessageTooLarge, $"The server at {context.DisplayAddress} (endpoint '{context.EndpointName}') answered with headers over what this client reads (MaxResponseHeadersLength of its SocketsHttpHandler): {limit.Message} An Ipc gRPC server sends a message's headers in its envelope: check that the address is an Ipc gRPC server's.", exception)
            {
                Endpoint = context.EndpointName,
            };
        }

        if (debug is HttpRequestException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            return new IpcException(IpcErrorCode.Unavailable, $"The connection to {context.DisplayAddress} (endpoint '{context.EndpointName}') was lost during the call: {debug.Message}", exception)
            {
                Endpoint = context.EndpointName,
            };
        }

        return null;
    }
}
