namespace Ipc.Transports.Streams;

/// <summary>
/// The base of every transport on the stream core over any connected duplex byte channel (<see cref="DuplexConnection"/>):
/// ring buffers in shared memory, an in-process pipe pair, your own medium. A subclass only opens connections:
/// <see cref="OpenConnectionAsync"/> on the client, a <see cref="ConnectionAcceptor"/> on the server. The core does the
/// rest, the same way for all of them: one framed wire format (docs/wire-format.md), many concurrent calls on one
/// connection correlated by call id, coalesced writes, limits checked before buffering, cancellation sent to the server,
/// stream credits, ordered one-way messages, GoAway, a pool of connections and lazy reconnection.
/// </summary>
/// <remarks>
/// For a medium that is a <see cref="System.IO.Stream"/> (a socket, a named pipe), derive from <see cref="StreamTransport"/>
/// instead. Registered as a singleton; implementations must be thread-safe.
/// </remarks>
public abstract class ConnectionTransport : IIpcTransport
{
    /// <summary>What every transport on the stream core supports: requests, one-way messages in order, server streams, and cancellation that reaches the handler.</summary>
    public const TransportCapabilities StreamCapabilities =
        TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.Streaming | TransportCapabilities.Ordered
        | TransportCapabilities.CancellationPropagates;

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
        return new StreamTransportListener(context, GetOptions(context), CreateConnectionAcceptor(context));
    }

    internal ValueTask<DuplexConnection> OpenAsync(IpcTransportContext context, CancellationToken cancellationToken) => OpenConnectionAsync(context, cancellationToken);

    /// <summary>Opens a new connection to the server of <paramref name="context"/>'s address, with any handshake of its own done.</summary>
    /// <remarks>
    /// Throw <see cref="IpcException"/> with the code that fits, or let the native exception out: the core maps
    /// <see cref="System.Security.Authentication.AuthenticationException"/> and <see cref="UnauthorizedAccessException"/> to
    /// <see cref="IpcErrorCode.Unauthorized"/> and the rest to <see cref="IpcErrorCode.Unavailable"/>, keeping the native
    /// exception as the inner one. The core bounds the call with the endpoint's <c>ConnectTimeout</c>.
    /// </remarks>
    protected abstract ValueTask<DuplexConnection> OpenConnectionAsync(IpcTransportContext context, CancellationToken cancellationToken);

    /// <summary>Creates the acceptor that listens on <paramref name="context"/>'s address.</summary>
    protected abstract ConnectionAcceptor CreateConnectionAcceptor(IpcTransportContext context);

    /// <summary>
    /// The error of a connect that nobody answered (refused, or nothing at the address): it fails at once, with nothing
    /// sent, so the endpoint's retry decides whether to try again.
    /// </summary>
    /// <param name="context">The endpoint's context.</param>
    /// <param name="inner">The medium's own error, kept as the inner exception.</param>
    protected static IpcException NoServerListening(IpcTransportContext context, Exception? inner)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new IpcException(IpcErrorCode.Unavailable, $"No server is listening on {context.DisplayAddress} (endpoint '{context.EndpointName}'). Start it, or check the address.", inner)
        {
            Endpoint = context.EndpointName,
            NotAccepted = true,
        };
    }

    /// <summary>Gets the stream-core settings of the endpoint of <paramref name="context"/>.</summary>
    /// <remarks>The default returns the defaults; adapters return their own options, named by endpoint.</remarks>
    protected virtual StreamTransportOptions GetOptions(IpcTransportContext context) => new();
}
