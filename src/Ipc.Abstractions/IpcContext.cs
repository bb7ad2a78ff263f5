namespace Ipc;

/// <summary>
/// What a handler knows about the call it is handling: the endpoint, the incoming message (route, ids, headers),
/// the call's service scope, and headers to send back with the response.
/// </summary>
public sealed class IpcContext
{
    private IpcHeaders? _responseHeaders;

    /// <summary>Creates a context.</summary>
    public IpcContext(string endpointName, IpcMessage message, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(endpointName);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(services);
        EndpointName = endpointName;
        Message = message;
        Services = services;
    }

    /// <summary>Gets the name of the endpoint the server listens on.</summary>
    public string EndpointName { get; }

    /// <summary>Gets the incoming message (its body is the serialized request, valid until the handler completes: copy it to keep it longer).</summary>
    public IpcMessage Message { get; }

    /// <summary>Gets the route of the call.</summary>
    public string Route => Message.Route;

    /// <summary>Gets the message id of the call.</summary>
    public string MessageId => Message.MessageId;

    /// <summary>Gets the correlation id of the call.</summary>
    public string? CorrelationId => Message.CorrelationId;

    /// <summary>Gets the headers of the call.</summary>
    public IpcHeaders Headers => Message.Headers;

    /// <summary>
    /// Gets who made the call, as the server's transport saw the peer: <c>ip:port</c> over TCP, TLS, HTTP and gRPC,
    /// <c>pid=… uid=…</c> over Unix sockets, named pipes and shared memory; <see langword="null"/> when the transport has
    /// no peer to name (in-memory; over AMQP, the publisher's <c>app_id</c> if it set one).
    /// </summary>
    /// <remarks>Like gRPC's <c>ServerCallContext.Peer</c>: for logs and diagnostics, not to authorize the caller.</remarks>
    public string? RemoteAddress => Message.RemoteAddress;

    /// <summary>Gets the service scope of this call.</summary>
    public IServiceProvider Services { get; }

    /// <summary>Gets headers to send back with the response (request/response calls).</summary>
    public IpcHeaders ResponseHeaders => _responseHeaders ??= new IpcHeaders();

    /// <summary>Gets a value indicating whether response headers were set.</summary>
    public bool HasResponseHeaders => _responseHeaders is { Count: > 0 };
}
