namespace Ipc;

/// <summary>
/// Calls handlers on one endpoint: request/response and server streams, typed or raw.
/// </summary>
/// <remarks>
/// Instances are thread-safe and meant to be shared; get one from DI (keyed by endpoint name) or from
/// <c>IIpcClientFactory</c>. Which transport carries the calls is decided by the endpoint's configured address.
/// Failures raise <see cref="IpcException"/> (or <see cref="IpcTimeoutException"/>); caller cancellation raises
/// <see cref="OperationCanceledException"/>.
/// </remarks>
public interface IRequestClient
{
    /// <summary>Gets the name of the endpoint this client calls.</summary>
    string EndpointName { get; }

    /// <summary>Gets what the endpoint's transport can do.</summary>
    TransportCapabilities Capabilities { get; }

    /// <summary>Sends <paramref name="request"/> to the handler of <paramref name="route"/> and returns its response.</summary>
    ValueTask<TResponse> RequestAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Sends a raw message and returns the raw response; the bodies are passed through byte for byte.</summary>
    ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken = default);

    /// <summary>Calls the stream handler of <paramref name="route"/> and yields its responses in order.</summary>
    /// <remarks>Stopping the enumeration (break, dispose or cancel) stops the producer on the server.</remarks>
    IAsyncEnumerable<TResponse> StreamAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Calls a stream handler with a raw message and yields the raw responses.</summary>
    IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken = default);

    /// <summary>Returns a service the client or its transport offers (for transport-specific features), or <see langword="null"/>.</summary>
    object? GetService(Type serviceType, object? serviceKey = null);
}
