namespace Ipc;

/// <summary>
/// A request client that passes every call to an inner client; derive from it to decorate calls (resilience, telemetry).
/// </summary>
/// <remarks>
/// The typed methods build the request with the inner client's serializer (its <c>GetService(typeof(IIpcSerializer))</c>),
/// call the raw method of this client and read the response with it, so a decorator that overrides
/// <see cref="RequestAsync(IpcMessage, CancellationToken)"/> and <see cref="StreamAsync(IpcMessage, CancellationToken)"/>
/// sees every call, typed ones too, with their <see cref="IpcCallOptions"/> in <see cref="IpcMessage.CallOptions"/>.
/// When the inner client offers no serializer (a mock), the typed methods call the inner client's typed methods.
/// Thread-safe when the inner client is.
/// </remarks>
public abstract class DelegatingRequestClient : IRequestClient
{
    private IIpcSerializer? _serializer;
    private bool _serializerKnown;

    /// <summary>Creates the decorator.</summary>
    protected DelegatingRequestClient(IRequestClient innerClient)
    {
        ArgumentNullException.ThrowIfNull(innerClient);
        InnerClient = innerClient;
    }

    /// <summary>Gets the decorated client.</summary>
    protected IRequestClient InnerClient { get; }

    /// <inheritdoc />
    public virtual string EndpointName => InnerClient.EndpointName;

    /// <inheritdoc />
    public virtual TransportCapabilities Capabilities => InnerClient.Capabilities;

    /// <inheritdoc />
    public virtual ValueTask<TResponse> RequestAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        Serializer is { } serializer
            ? TypedCalls.DecodeAsync<TResponse>(serializer, RequestAsync(TypedCalls.CreateMessage(serializer, route, request, options), cancellationToken))
            : InnerClient.RequestAsync<TRequest, TResponse>(route, request, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken = default) =>
        InnerClient.RequestAsync(request, cancellationToken);

    /// <inheritdoc />
    public virtual IAsyncEnumerable<TResponse> StreamAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        Serializer is { } serializer
            ? TypedCalls.StreamAsync<TRequest, TResponse>(serializer, StreamAsync, route, request, options, cancellationToken)
            : InnerClient.StreamAsync<TRequest, TResponse>(route, request, options, cancellationToken);

    /// <inheritdoc />
    public virtual IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken = default) =>
        InnerClient.StreamAsync(request, cancellationToken);

    /// <inheritdoc />
    public virtual object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is null && serviceType.IsInstanceOfType(this) ? this : InnerClient.GetService(serviceType, serviceKey);
    }

    /// <summary>The inner client's serializer, looked up once.</summary>
    private IIpcSerializer? Serializer
    {
        get
        {
            if (!_serializerKnown)
            {
                _serializer = TypedCalls.SerializerOf(InnerClient.GetService);
                _serializerKnown = true;
            }

            return _serializer;
        }
    }
}
