namespace Ipc;

/// <summary>
/// A channel that passes every call to an inner channel; derive from it to decorate sends (resilience, telemetry).
/// </summary>
public abstract class DelegatingChannel : IChannel
{
    /// <summary>Creates the decorator.</summary>
    protected DelegatingChannel(IChannel innerChannel)
    {
        ArgumentNullException.ThrowIfNull(innerChannel);
        InnerChannel = innerChannel;
    }

    /// <summary>Gets the decorated channel.</summary>
    protected IChannel InnerChannel { get; }

    /// <inheritdoc />
    public virtual string EndpointName => InnerChannel.EndpointName;

    /// <inheritdoc />
    public virtual TransportCapabilities Capabilities => InnerChannel.Capabilities;

    /// <inheritdoc />
    public virtual ValueTask SendAsync<TMessage>(string route, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        InnerChannel.SendAsync(route, message, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken = default) =>
        InnerChannel.SendAsync(message, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask SendBatchAsync<TMessage>(string route, IEnumerable<TMessage> messages, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        InnerChannel.SendBatchAsync(route, messages, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask SendBatchAsync(IReadOnlyList<IpcMessage> messages, CancellationToken cancellationToken = default) =>
        InnerChannel.SendBatchAsync(messages, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask PublishAsync<TMessage>(string topic, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        InnerChannel.PublishAsync(topic, message, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default) =>
        InnerChannel.PublishAsync(message, cancellationToken);

    /// <inheritdoc />
    public virtual object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is null && serviceType.IsInstanceOfType(this) ? this : InnerChannel.GetService(serviceType, serviceKey);
    }
}
