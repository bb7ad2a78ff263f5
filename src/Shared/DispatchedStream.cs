namespace Ipc.Transports;

// A dispatcher's stream as a transport's server reads it: each move waits on a token too, so a producer that ignores its
// own token cannot hold the caller or a stopping server; and disposing it does not wait for a move still under way (an
// async iterator cannot be disposed while it moves): the stream is disposed once that move ends. Compiled from one source
// file into the runtime (in-memory) and the HTTP and gRPC transports. Its comments are not XML documentation: Ipc.Http
// has this type twice (its own and the runtime's), and ASP.NET Core's OpenAPI document reads the XML documentation of
// both, which must not name one type twice.
internal sealed class DispatchedStream(IAsyncEnumerator<IpcMessage> items) : IAsyncDisposable
{
    private Task<bool>? _moving;

    public IpcMessage Current => items.Current;

    // Moves on; throws OperationCanceledException when the token is cancelled first.
    public ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken)
    {
        var move = items.MoveNextAsync();
        if (move.IsCompleted)
        {
            return move;
        }

        _moving = move.AsTask();
        return new ValueTask<bool>(_moving.WaitAsync(cancellationToken));
    }

    public ValueTask DisposeAsync()
    {
        if (_moving is { IsCompleted: false } moving)
        {
            _ = DisposeAfterAsync(moving, items);
            return default;
        }

        return items.DisposeAsync();
    }

    private static async Task DisposeAfterAsync(Task<bool> moving, IAsyncEnumerator<IpcMessage> items)
    {
        try
        {
            await moving.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The dispatcher turns a producer's failures into a fault item: only the cancellation the caller was already
            // answered for ends a move this way.
        }

        await items.DisposeAsync().ConfigureAwait(false);
    }
}
