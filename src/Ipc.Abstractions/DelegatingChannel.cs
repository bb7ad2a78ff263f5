namespace Ipc;

/// <summary>
/// A channel that passes every call to an inner channel; derive from it to decorate sends (resilience, telemetry).
/// </summary>
/// <remarks>
/// The typed methods build the message with the inner channel's serializer (its <c>GetService(typeof(IIpcSerializer))</c>)
/// and call the raw method of this channel, so a decorator that overrides <see cref="SendAsync(IpcMessage, CancellationToken)"/>,
/// <see cref="SendBatchAsync(IReadOnlyList{IpcMessage}, CancellationToken)"/> and <see cref="PublishAsync(IpcMessage, CancellationToken)"/>
/// sees every call, typed ones too, with their <see cref="IpcCallOptions"/> in <see cref="IpcMessage.CallOptions"/>.
/// When the inner channel offers no serializer (a mock), the typed methods call the inner channel's typed methods.
/// Thread-safe when the inner channel is.
/// </remarks>
public abstract class DelegatingChannel : IChannel
{
    private IIpcSerializer? _serializer;
    private bool _serializerKnown;

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
        Serializer is { } serializer
            ? SendAsync(TypedCalls.CreateMessage(serializer, route, message, options), cancellationToken)
            : InnerChannel.SendAsync(route, message, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken = default) =>
        InnerChannel.SendAsync(message, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask SendBatchAsync<TMessage>(string route, IEnumerable<TMessage> messages, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        Serializer is { } serializer
            ? SendBatchAsync(TypedCalls.CreateBatch(serializer, route, messages, options), cancellationToken)
            : InnerChannel.SendBatchAsync(route, messages, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask SendBatchAsync(IReadOnlyList<IpcMessage> messages, CancellationToken cancellationToken = default) =>
        InnerChannel.SendBatchAsync(messages, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask PublishAsync<TMessage>(string topic, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        Serializer is { } serializer
            ? PublishAsync(TypedCalls.CreateMessage(serializer, topic, message, options), cancellationToken)
            : InnerChannel.PublishAsync(topic, message, options, cancellationToken);

    /// <inheritdoc />
    public virtual ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default) =>
        InnerChannel.PublishAsync(message, cancellationToken);

    /// <inheritdoc />
    public virtual object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is null && serviceType.IsInstanceOfType(this) ? this : InnerChannel.GetService(serviceType, serviceKey);
    }

    /// <summary>The inner channel's serializer, looked up once.</summary>
    private IIpcSerializer? Serializer
    {
        get
        {
            if (!_serializerKnown)
            {
                _serializer = TypedCalls.SerializerOf(InnerChannel.GetService);
                _serializerKnown = true;
            }

            return _serializer;
        }
    }
}
