namespace Ipc;

/// <summary>Handles request/response calls of one route.</summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">The response type.</typeparam>
public interface IRequestHandler<in TRequest, TResponse>
{
    /// <summary>Handles one request. Exceptions reach the caller as <see cref="IpcErrorCode.RemoteError"/>.</summary>
    ValueTask<TResponse> HandleAsync(TRequest request, IpcContext context, CancellationToken cancellationToken);
}

/// <summary>Handles one-way (and published) messages of one route.</summary>
/// <typeparam name="TMessage">The message type.</typeparam>
public interface IMessageHandler<in TMessage>
{
    /// <summary>Handles one message. Exceptions are logged by the server; the sender has already moved on.</summary>
    ValueTask HandleAsync(TMessage message, IpcContext context, CancellationToken cancellationToken);
}

/// <summary>Handles server-stream calls of one route.</summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">The type of each streamed response.</typeparam>
public interface IStreamHandler<in TRequest, out TResponse>
{
    /// <summary>Produces the responses. <paramref name="cancellationToken"/> is cancelled when the caller stops reading.</summary>
    IAsyncEnumerable<TResponse> HandleAsync(TRequest request, IpcContext context, CancellationToken cancellationToken);
}
