namespace Ipc;

/// <summary>
/// A request client that passes every call to an inner client; derive from it to decorate calls (resilience, telemetry).
/// </summary>
public abstract class DelegatingRequestClient : IRequestClient
{
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
        InnerClient.RequestAsync<TRequest, TResponse>(route, request, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken = default) =>
        InnerClient.RequestAsync(request, cancellationToken);

    /// <inheritdoc />
    public virtual IAsyncEnumerable<TResponse> StreamAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        InnerClient.StreamAsync<TRequest, TResponse>(route, request, options, cancellationToken);

    /// <inheritdoc />
    public virtual IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken = default) =>
        InnerClient.StreamAsync(request, cancellationToken);

    /// <inheritdoc />
    public virtual object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is null && serviceType.IsInstanceOfType(this) ? this : InnerClient.GetService(serviceType, serviceKey);
    }
}
