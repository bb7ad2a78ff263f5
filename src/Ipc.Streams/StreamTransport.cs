namespace Ipc.Transports.Streams;

/// <summary>
/// The base of every transport over a byte stream (named pipes, Unix domain sockets, TCP, your own). A subclass only
/// opens streams: <see cref="ConnectAsync"/> on the client, a <see cref="StreamAcceptor"/> on the server. The runtime
/// does the rest, the same way for all of them: one framed wire format (docs/wire-format.md), many concurrent calls on
/// one connection correlated by call id, coalesced writes, size limits checked before buffering, cancellation sent to
/// the server, ordered one-way messages, a pool of connections and lazy reconnection.
/// </summary>
/// <remarks>Registered as a singleton; implementations must be thread-safe.</remarks>
public abstract class StreamTransport : IIpcTransport
{
    /// <summary>What every stream transport supports: requests, one-way messages in order, server streams, and cancellation that reaches the handler.</summary>
    public const TransportCapabilities StreamCapabilities =
        TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.Streaming | TransportCapabilities.Ordered | TransportCapabilities.CancellationPropagates;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public abstract IReadOnlyList<string> Schemes { get; }

    /// <inheritdoc />
    /// <remarks>The default returns <see cref="StreamCapabilities"/>; a transport that crosses machines adds <see cref="TransportCapabilities.CrossMachine"/>.</remarks>
    public virtual TransportCapabilities GetCapabilities(Uri address) => StreamCapabilities;

    /// <inheritdoc />
    public abstract string? ValidateAddress(Uri address);

    /// <inheritdoc />
    public IIpcTransportClient CreateClient(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new StreamTransportClient(context, GetOptions(context), this);
    }

    /// <inheritdoc />
    public IIpcTransportListener CreateListener(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new StreamTransportListener(context, GetOptions(context), CreateAcceptor(context));
    }

    internal ValueTask<Stream> OpenAsync(IpcTransportContext context, CancellationToken cancellationToken) => ConnectAsync(context, cancellationToken);

    /// <summary>Opens a new connection to the server of <paramref name="context"/>'s address (and finishes any handshake of its own, such as TLS).</summary>
    /// <remarks>
    /// Throw <see cref="IpcException"/> with the code that fits, or let the native exception out: the runtime maps
    /// <see cref="System.Security.Authentication.AuthenticationException"/> and <see cref="UnauthorizedAccessException"/> to
    /// <see cref="IpcErrorCode.Unauthorized"/> and the rest to <see cref="IpcErrorCode.Unavailable"/>, keeping the native
    /// exception as the inner one. The runtime bounds the call with the endpoint's <c>ConnectTimeout</c>.
    /// </remarks>
    protected abstract ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken);

    /// <summary>Creates the acceptor that listens on <paramref name="context"/>'s address.</summary>
    protected abstract StreamAcceptor CreateAcceptor(IpcTransportContext context);

    /// <summary>Gets the stream settings of the endpoint of <paramref name="context"/>.</summary>
    /// <remarks>The default returns the defaults; adapters return their own options, named by endpoint.</remarks>
    protected virtual StreamTransportOptions GetOptions(IpcTransportContext context) => new();
}
