namespace Ipc.Tests.Server;

/// <summary>One-way dispatch tells the transport what became of each message.</summary>
public sealed partial class IpcDispatcherTests
{
    [Fact]
    public async Task DispatchOneWayAsync_HandlerSucceeds_ReturnsSuccess()
    {
        var received = 0;
        await using var server = CreateDispatcher(s => s.MapMessage<int>("log", (value, _, _) =>
        {
            received = value;
            return default;
        }));

        var outcome = await server.Inner.DispatchOneWayAsync(Message("log", 7), CancellationToken.None);

        Assert.True(outcome.Succeeded);
        Assert.Null(outcome.Fault);
        Assert.Equal(Ipc.Transports.IpcOneWayOutcome.Success, outcome);
        Assert.Equal(7, received);
    }

    [Fact]
    public async Task DispatchOneWayAsync_HandlerThrows_ReturnsRemoteErrorAndLogs()
    {
        await using var server = CreateDispatcher(s => s.MapMessage<int>("log", (_, _, _) => throw new InvalidOperationException("disk full")));

        var outcome = await server.Inner.DispatchOneWayAsync(Message("log", 1), CancellationToken.None);

        Assert.False(outcome.Succeeded);
        Assert.Equal(IpcErrorCode.RemoteError, outcome.Fault!.ErrorCode);
        Assert.Contains(server.Log.Entries, e => e.Exception is InvalidOperationException { Message: "disk full" });
    }

    [Fact]
    public async Task DispatchOneWayAsync_HandlerThrowsHandlerException_ReturnsItsCode()
    {
        await using var server = CreateDispatcher(s => s.MapMessage<int>("log", (_, _, _) => throw new IpcHandlerException("POISON", "cannot be handled")));

        var outcome = await server.Inner.DispatchOneWayAsync(Message("log", 1), CancellationToken.None);

        Assert.Equal(IpcErrorCode.RemoteError, outcome.Fault!.ErrorCode);
        Assert.Equal("POISON", outcome.Fault.Remote!.Code);
    }

    [Fact]
    public async Task DispatchOneWayAsync_UnknownRoute_ReturnsNoHandler()
    {
        await using var server = CreateDispatcher(s => s.MapMessage<int>("log", (_, _, _) => default));

        var outcome = await server.Inner.DispatchOneWayAsync(Message("nowhere", 1), CancellationToken.None);

        Assert.Equal(IpcErrorCode.NoHandler, outcome.Fault!.ErrorCode);
    }

    [Fact]
    public async Task DispatchOneWayAsync_BodyOfWrongType_ReturnsSerialization()
    {
        await using var server = CreateDispatcher(s => s.MapMessage<Add>("log", (_, _, _) => default));

        var outcome = await server.Inner.DispatchOneWayAsync(Message("log", "not an Add"), CancellationToken.None);

        Assert.Equal(IpcErrorCode.Serialization, outcome.Fault!.ErrorCode);
    }

    [Fact]
    public async Task DispatchOneWayAsync_Duplicate_ReturnsSuccessWithoutRunningAgain()
    {
        var runs = 0;
        await using var server = CreateDispatcher(s => s.UseDuplicateFilter().MapMessage<int>("log", (_, _, _) =>
        {
            runs++;
            return default;
        }));
        var message = Message("log", 1);

        var first = await server.Inner.DispatchOneWayAsync(message, CancellationToken.None);
        var again = await server.Inner.DispatchOneWayAsync(message.Clone(), CancellationToken.None);

        Assert.True(first.Succeeded);
        Assert.True(again.Succeeded);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task DispatchOneWayAsync_DeliveredAgainAfterItsHandlerFailed_RunsTheHandlerAgain()
    {
        // A broker delivers a failed message again, with its message id: that delivery is no duplicate.
        var runs = 0;
        await using var server = CreateDispatcher(s => s.UseDuplicateFilter().MapMessage<int>("log", (_, _, _) =>
        {
            if (++runs == 1)
            {
                throw new InvalidOperationException("failed once");
            }

            return default;
        }));
        var message = Message("log", 1);

        var first = await server.Inner.DispatchOneWayAsync(message, CancellationToken.None);
        var again = await server.Inner.DispatchOneWayAsync(message.Clone(), CancellationToken.None);
        var third = await server.Inner.DispatchOneWayAsync(message.Clone(), CancellationToken.None);

        Assert.False(first.Succeeded);
        Assert.True(again.Succeeded);
        Assert.True(third.Succeeded);
        Assert.Equal(2, runs); // the third delivery is a duplicate of the handled second
    }

    [Fact]
    public async Task DispatchOneWayAsync_TransportCancels_ThrowsOperationCanceled()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = CreateDispatcher(s => s.MapMessage<int>("wait", async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }));
        using var stopping = new CancellationTokenSource();

        var dispatch = server.Inner.DispatchOneWayAsync(Message("wait", 1), stopping.Token).AsTask();
        await started.Task.WaitAsync(Bound);
        await stopping.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dispatch.WaitAsync(Bound));
    }
}
