using Microsoft.Extensions.Time.Testing;

namespace Ipc.Tests.Server;

/// <summary>The deadline a message carries (its remaining time) runs from its arrival, on the server's clock.</summary>
public sealed partial class IpcDispatcherTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-1000)]
    public async Task DispatchRequestAsync_ArrivedAfterDeadline_NotRunAndAnswersTimeout(int remainingMilliseconds)
    {
        var runs = 0;
        await using var server = CreateDispatcher(s => s.MapRequest<int, int>("add", value =>
        {
            runs++;
            return value + 1;
        }));

        var response = await server.Inner.DispatchRequestAsync(Message("add", 1, TimeSpan.FromMilliseconds(remainingMilliseconds)), CancellationToken.None);

        Assert.Equal(IpcErrorCode.Timeout, response.Fault!.ErrorCode);
        Assert.IsType<IpcTimeoutException>(response.Fault.ToException("calc"));
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task DispatchRequestAsync_DeadlinePasses_HandlerTokenCancelledOnTimeAndAnswersTimeout()
    {
        var time = new FakeTimeProvider();
        var started = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = CreateDispatcher(s => s.MapRequest<int, int>("wait", async (_, _, ct) =>
        {
            started.TrySetResult(ct);
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }), time);

        var dispatch = server.Inner.DispatchRequestAsync(Message("wait", 1, TimeSpan.FromSeconds(5)), CancellationToken.None).AsTask();
        var token = await started.Task.WaitAsync(Bound);
        time.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromMilliseconds(1));
        Assert.False(token.IsCancellationRequested, "the handler's token was cancelled before the deadline");
        time.Advance(TimeSpan.FromMilliseconds(1));

        var response = await dispatch.WaitAsync(Bound);
        Assert.True(token.IsCancellationRequested);
        Assert.Equal(IpcErrorCode.Timeout, response.Fault!.ErrorCode);
        Assert.Contains("deadline", response.Fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DispatchRequestAsync_HandlerDoneBeforeDeadline_AnswersNormally()
    {
        await using var server = CreateDispatcher(s => s.MapRequest<int, int>("add", value => value + 1), new FakeTimeProvider());

        var response = await server.Inner.DispatchRequestAsync(Message("add", 41, TimeSpan.FromSeconds(5)), CancellationToken.None);

        Assert.Equal(42, Decode<int>(response));
    }

    [Fact]
    public async Task DispatchRequestAsync_NoDeadline_HandlerGetsTransportTokenAsItIs()
    {
        CancellationToken seen = default;
        await using var server = CreateDispatcher(s => s.MapRequest<int, int>("add", (value, _, ct) =>
        {
            seen = ct;
            return new ValueTask<int>(value);
        }));
        using var transport = new CancellationTokenSource();

        await server.Inner.DispatchRequestAsync(Message("add", 1), transport.Token);

        Assert.Equal(transport.Token, seen); // no deadline, no token source of its own
    }

    [Fact]
    public async Task DispatchRequestAsync_TransportCancelsBeforeDeadline_ThrowsOperationCanceled()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = CreateDispatcher(s => s.MapRequest<int, int>("wait", async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }), new FakeTimeProvider());
        using var transport = new CancellationTokenSource();

        var dispatch = server.Inner.DispatchRequestAsync(Message("wait", 1, TimeSpan.FromSeconds(5)), transport.Token).AsTask();
        await started.Task.WaitAsync(Bound);
        await transport.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dispatch.WaitAsync(Bound));
    }

    [Fact]
    public async Task DispatchRequestAsync_DuplicateFilterFirstDeliveryOutOfTime_RetryWithTimeLeftRuns()
    {
        var runs = 0;
        await using var server = CreateDispatcher(s => s.UseDuplicateFilter().MapRequest<int, int>("add", value =>
        {
            runs++;
            return value + 1;
        }));
        var late = Message("add", 1, TimeSpan.Zero);
        var retry = late.Clone();
        retry.Timeout = TimeSpan.FromSeconds(5);

        var first = await server.Inner.DispatchRequestAsync(late, CancellationToken.None);
        var second = await server.Inner.DispatchRequestAsync(retry, CancellationToken.None);

        Assert.Equal(IpcErrorCode.Timeout, first.Fault!.ErrorCode);
        Assert.Equal(2, Decode<int>(second));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task DispatchOneWayAsync_DeadlinePasses_ReturnsTimeout()
    {
        var time = new FakeTimeProvider();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = CreateDispatcher(s => s.MapMessage<int>("wait", async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }), time);

        var dispatch = server.Inner.DispatchOneWayAsync(Message("wait", 1, TimeSpan.FromSeconds(2)), CancellationToken.None).AsTask();
        await started.Task.WaitAsync(Bound);
        time.Advance(TimeSpan.FromSeconds(2));

        var outcome = await dispatch.WaitAsync(Bound);
        Assert.Equal(IpcErrorCode.Timeout, outcome.Fault!.ErrorCode);
    }

    [Fact]
    public async Task DispatchOneWayAsync_ArrivedAfterDeadline_NotRunAndReturnsTimeout()
    {
        var runs = 0;
        await using var server = CreateDispatcher(s => s.MapMessage<int>("log", (_, _, _) =>
        {
            runs++;
            return default;
        }));

        var outcome = await server.Inner.DispatchOneWayAsync(Message("log", 1, TimeSpan.Zero), CancellationToken.None);

        Assert.Equal(IpcErrorCode.Timeout, outcome.Fault!.ErrorCode);
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task DispatchStreamAsync_DeadlinePasses_EndsWithTimeoutFault()
    {
        var time = new FakeTimeProvider();
        await using var server = CreateDispatcher(s => s.MapStream<int, int>("count", (_, _, ct) => Endless(ct)), time);
        var items = new List<IpcMessage>();

        await foreach (var item in server.Inner.DispatchStreamAsync(Message("count", 0, TimeSpan.FromSeconds(3)), CancellationToken.None).WithCancellation(CancellationToken.None))
        {
            items.Add(item);
            if (items.Count == 2)
            {
                time.Advance(TimeSpan.FromSeconds(3));
            }

            Assert.True(items.Count < 1000, "the stream went on after its deadline");
        }

        Assert.Equal(IpcErrorCode.Timeout, items[^1].Fault!.ErrorCode);
        Assert.All(items.SkipLast(1), item => Assert.Null(item.Fault));
    }

    private static async IAsyncEnumerable<int> Endless([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; ; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return i;
            await Task.Yield();
        }
    }
}
