namespace Ipc.Transports;

/// <summary>
/// The runtime's side of a listener: routes incoming messages to handlers. Implemented by the runtime, called by transports.
/// </summary>
/// <remarks>
/// <para>
/// The methods never throw for a failed handler, unknown route or bad body: they return (or yield) a message whose
/// <see cref="IpcMessage.Fault"/> says what happened, and the transport sends it back as it is (a one-way message gets
/// an <see cref="IpcOneWayOutcome"/> instead). They throw <see cref="OperationCanceledException"/> only when
/// <c>cancellationToken</c> is cancelled.
/// </para>
/// <para>
/// A message whose <see cref="IpcMessage.Timeout"/> is set has a deadline: the moment the method is called plus that
/// time. Call the method as soon as the message has arrived. The handler's token is cancelled when the deadline passes
/// and the call fails with <see cref="IpcErrorCode.Timeout"/>; a message that arrives with no time left
/// (<see cref="TimeSpan.Zero"/> or less) is not handled at all.
/// </para>
/// <para>
/// The body of a dispatched message stays the transport's: the runtime and the handler read it only until the returned
/// task (or stream) completes, after which the transport may reuse its memory. A response may be the request's own
/// bytes (a raw handler can answer with them), so reuse it only once the response is written.
/// </para>
/// </remarks>
public interface IIpcDispatcher
{
    /// <summary>Gets the name of the endpoint being served.</summary>
    string EndpointName { get; }

    /// <summary>Gets the largest body, in bytes, the endpoint accepts; a transport rejects larger frames before buffering them.</summary>
    int MaxMessageSize { get; }

    /// <summary>
    /// Gets the name of the service the server belongs to: its identity as a subscriber. Servers with the same service
    /// name are instances of one service and share each published message (competing consumers); each distinct service
    /// gets its own copy. A broker names the service's queue after it.
    /// </summary>
    string ServiceName { get; }

    /// <summary>
    /// Gets every route the server maps, with its kind and message types, ordered by name. Read it when the listener
    /// starts. Messages of <see cref="IpcRouteKind.OneWay"/> routes (sent) and of <see cref="IpcRouteKind.Subscription"/>
    /// routes (published) are both dispatched with <see cref="DispatchOneWayAsync"/>.
    /// </summary>
    IReadOnlyList<IpcRoute> Routes { get; }

    /// <summary>Handles a request and returns the response to send back; the response is new and belongs to the transport.</summary>
    ValueTask<IpcMessage> DispatchRequestAsync(IpcMessage request, CancellationToken cancellationToken);

    /// <summary>
    /// Handles a one-way or published message and says whether the handler handled it, so that a transport that
    /// acknowledges messages acknowledges after success and requeues or dead-letters after failure. A failure is also logged.
    /// </summary>
    /// <returns>The outcome; it completes without allocating when the handler completes at once and succeeds.</returns>
    ValueTask<IpcOneWayOutcome> DispatchOneWayAsync(IpcMessage message, CancellationToken cancellationToken);

    /// <summary>Handles a stream call; yields each response to send back (each new, belonging to the transport), and a final fault message if the handler fails.</summary>
    IAsyncEnumerable<IpcMessage> DispatchStreamAsync(IpcMessage request, CancellationToken cancellationToken);
}
