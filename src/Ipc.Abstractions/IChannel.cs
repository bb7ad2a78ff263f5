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

    /// <summary>
    /// Sends one-way messages to the handler of <paramref name="route"/>, in order, as one call: every message is still
    /// its own message (its own id, handled one by one), but the endpoint's resilience pipeline runs once for the batch.
    /// </summary>
    /// <remarks>
    /// Every message is serialized and size-checked before the first is sent, so a bad one fails the batch with nothing
    /// sent. The timeouts bound the batch as a whole and the circuit breaker counts it as one call. A retry (when the
    /// transport reports that a message was not accepted, or after any transient failure on an idempotent endpoint)
    /// resends from the first message that was not accepted, with the same message ids.
    /// </remarks>
    /// <param name="route">The route of every message.</param>
    /// <param name="messages">The messages; enumerated once, before anything is sent.</param>
    /// <param name="options">Headers, correlation id and timeout for every message of the batch. <see cref="IpcCallOptions.MessageId"/> must be unset: each message gets an id of its own.</param>
    /// <param name="cancellationToken">Cancels the batch; messages accepted before it are still delivered.</param>
    /// <exception cref="IpcException">
    /// When the batch fails after sending began: <see cref="IpcException.AcceptedCount"/> says how many of its first
    /// messages the transport accepted (those are delivered); the others were not sent, except that the one that failed
    /// may have been accepted unless <see cref="IpcException.NotAccepted"/> is set.
    /// </exception>
    ValueTask SendBatchAsync<TMessage>(string route, IEnumerable<TMessage> messages, IpcCallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Sends raw one-way messages, in order, as one call; see <see cref="SendBatchAsync{TMessage}"/>.</summary>
    /// <remarks>
    /// The messages may go to different routes, with options of their own: the batch is retried after any transient
    /// failure only when every message of it is idempotent (by its route, its <see cref="IpcMessage.CallOptions"/> or the
    /// endpoint).
    /// </remarks>
    ValueTask SendBatchAsync(IReadOnlyList<IpcMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>Publishes a message on <paramref name="topic"/> to every subscriber.</summary>
    /// <exception cref="IpcException">With <see cref="IpcErrorCode.NotSupported"/> when the transport lacks <see cref="TransportCapabilities.PublishSubscribe"/>.</exception>
    ValueTask PublishAsync<TMessage>(string topic, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Publishes a raw message to every subscriber of its route.</summary>
    ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default);

    /// <summary>Returns a service the channel or its transport offers, or <see langword="null"/>.</summary>
    object? GetService(Type serviceType, object? serviceKey = null);
}
