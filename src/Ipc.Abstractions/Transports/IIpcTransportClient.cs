namespace Ipc.Transports;

/// <summary>
/// The client side of a transport for one endpoint. Moves <see cref="IpcMessage"/>s to the server and back.
/// </summary>
/// <remarks>
/// <para>Thread-safe: many calls run at once. Failures of the transport itself are raised as <see cref="IpcException"/>
/// with the code the error model assigns (<see cref="IpcErrorCode.Unavailable"/> when the server cannot be reached or goes
/// away, which must happen at once for pending calls, not at their timeout). A failure the server reports comes back as a
/// response whose <see cref="IpcMessage.Fault"/> is set; the transport does not raise it.</para>
/// <para>When <c>cancellationToken</c> is cancelled, the call ends with <see cref="OperationCanceledException"/> and the
/// transport tells the server, which cancels the handler's token.</para>
/// </remarks>
public interface IIpcTransportClient : IAsyncDisposable
{
    /// <summary>Sends a request and returns the server's response (which may carry a fault).</summary>
    ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken);

    /// <summary>Sends a one-way message; completes when the transport has accepted it.</summary>
    ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken);

    /// <summary>Publishes a message to every subscriber. Only called when the transport has <see cref="TransportCapabilities.PublishSubscribe"/>.</summary>
    ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken);

    /// <summary>Calls a stream handler; yields its responses in order. Stopping the enumeration stops the producer.</summary>
    IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken);
}
