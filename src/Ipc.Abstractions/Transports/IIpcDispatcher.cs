namespace Ipc.Transports;

/// <summary>
/// The runtime's side of a listener: routes incoming messages to handlers. Implemented by the runtime, called by transports.
/// </summary>
/// <remarks>
/// The methods never throw for a failed handler, unknown route or bad body: they return (or yield) a message whose
/// <see cref="IpcMessage.Fault"/> says what happened, and the transport sends it back as it is. They throw
/// <see cref="OperationCanceledException"/> only when <c>cancellationToken</c> is cancelled.
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

    /// <summary>Handles a one-way or published message. A handler failure is logged, not returned.</summary>
    ValueTask DispatchOneWayAsync(IpcMessage message, CancellationToken cancellationToken);

    /// <summary>Handles a stream call; yields each response to send back (each new, belonging to the transport), and a final fault message if the handler fails.</summary>
    IAsyncEnumerable<IpcMessage> DispatchStreamAsync(IpcMessage request, CancellationToken cancellationToken);
}
