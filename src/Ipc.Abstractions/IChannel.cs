namespace Ipc;

/// <summary>
/// Sends one-way messages to, and publishes messages on, one endpoint.
/// </summary>
/// <remarks>
/// A send completes when the transport has accepted the message; an accepted message is delivered to the handler or
/// reported failed (logged by the server), never dropped silently. Instances are thread-safe and meant to be shared.
/// </remarks>
public interface IChannel
{
    /// <summary>Gets the name of the endpoint this channel sends to.</summary>
    string EndpointName { get; }

    /// <summary>Gets what the endpoint's transport can do.</summary>
    TransportCapabilities Capabilities { get; }

    /// <summary>Sends a one-way message to the handler of <paramref name="route"/>.</summary>
    ValueTask SendAsync<TMessage>(string route, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Sends a raw one-way message.</summary>
    ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken = default);

    /// <summary>Publishes a message on <paramref name="topic"/> to every subscriber.</summary>
    /// <exception cref="IpcException">With <see cref="IpcErrorCode.NotSupported"/> when the transport lacks <see cref="TransportCapabilities.PublishSubscribe"/>.</exception>
    ValueTask PublishAsync<TMessage>(string topic, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Publishes a raw message to every subscriber of its route.</summary>
    ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default);

    /// <summary>Returns a service the channel or its transport offers, or <see langword="null"/>.</summary>
    object? GetService(Type serviceType, object? serviceKey = null);
}
