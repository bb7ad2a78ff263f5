using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Polly.Telemetry;

namespace Ipc.Tests.Resilience;

/// <summary>How a batch of one-way messages goes through the resilience pipeline: once, resuming where it failed.</summary>
[Trait("Category", "Resilience")]
public sealed class SendBatchResilienceTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task SendBatchAsync_NotAcceptedMidway_ResendsFromThatMessageWithTheSameIds()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.PassNext(2).FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: true);

        await endpoint.Channel.SendBatchAsync("note", [10, 11, 12, 13]).AsTask().WaitAsync(Bound);

        var ids = endpoint.Transport.Attempts.Select(a => a.Message.MessageId).ToList();
        Assert.Equal(5, ids.Count); // 10, 11, 12 (not accepted), 12 again, 13
        Assert.Equal(4, ids.Distinct().Count());
        Assert.Equal(ids[2], ids[3]);
        Assert.All(endpoint.Transport.Attempts, a => Assert.Equal(RecordedKind.OneWay, a.Kind));
    }

    [Fact]
    public async Task SendBatchAsync_FailureAfterPossibleAcceptance_IsNotRetriedAndSaysHowFarItGot()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.PassNext(1).FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendBatchAsync("note", [1, 2, 3]).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(1, ex.AcceptedCount);
        Assert.False(ex.NotAccepted);
        Assert.Equal(ScriptedEndpoint.Name, ex.Endpoint);
        Assert.Contains("1 of them were accepted", ex.Message, StringComparison.Ordinal);
        Assert.Contains("message 1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("may or may not have been accepted", ex.Message, StringComparison.Ordinal);
        Assert.IsType<IpcException>(ex.InnerException);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task SendBatchAsync_NotAcceptedWithoutRetries_ReportsTheRestAsNotSent()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 0);
        endpoint.Transport.PassNext(2).FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: true);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendBatchAsync("note", [1, 2, 3, 4]).AsTask().WaitAsync(Bound));

        Assert.Equal(2, ex.AcceptedCount);
        Assert.True(ex.NotAccepted);
        Assert.Contains("message 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("were not sent", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendBatchAsync_IdempotentEndpoint_ResendsAfterAnyTransientFailure()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.Idempotent = true;
        });
        endpoint.Transport.PassNext(1).FailNext(IpcErrorCode.Timeout, times: 1, notAccepted: false);

        await endpoint.Channel.SendBatchAsync("note", [1, 2, 3]).AsTask().WaitAsync(Bound);

        var ids = endpoint.Transport.Attempts.Select(a => a.Message.MessageId).ToList();
        Assert.Equal(4, ids.Count);
        Assert.Equal(ids[1], ids[2]);
    }

    [Fact]
    public async Task SendBatchAsync_RawBatchStartingWithAnIdempotentRoute_DoesNotResendAMessageOfAnotherRoute()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.IdempotentRoutes.Add("get-price");
        });
        endpoint.Transport.PassNext(1).FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: false);

        // The second message may have reached its handler, which is not marked idempotent: it must not run twice.
        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendBatchAsync([new IpcMessage("get-price"), new IpcMessage("place-order")]).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(1, ex.AcceptedCount);
        Assert.Equal(["get-price", "place-order"], endpoint.Transport.Attempts.Select(a => a.Message.Route));
    }

    [Fact]
    public async Task SendBatchAsync_RawBatchOfIdempotentMessages_ResendsAfterAnyTransientFailure()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.IdempotentRoutes.Add("get-price");
        });
        endpoint.Transport.PassNext(1).FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: false);
        var idempotent = new IpcCallOptions { Idempotent = true };

        await endpoint.Channel.SendBatchAsync([new IpcMessage("get-price"), new IpcMessage("search") { CallOptions = idempotent }]).AsTask().WaitAsync(Bound);

        Assert.Equal(["get-price", "search", "search"], endpoint.Transport.Attempts.Select(a => a.Message.Route));
    }

    [Fact]
    public async Task SendBatchAsync_RunsThePipelineOncePerBatch()
    {
        var executions = new PipelineExecutions();
        await using var endpoint = ScriptedEndpoint.Create(
            r => r.Retry.MaxRetryAttempts = 3,
            services => services.Configure<TelemetryOptions>(o => o.TelemetryListeners.Add(executions)));

        await endpoint.Channel.SendBatchAsync("note", Enumerable.Range(0, 50)).AsTask().WaitAsync(Bound);
        Assert.Equal(1, executions.Count);
        Assert.Equal(50, endpoint.Transport.Attempts.Count);

        await endpoint.Channel.SendAsync("note", 1).AsTask().WaitAsync(Bound);
        await endpoint.Channel.SendAsync("note", 2).AsTask().WaitAsync(Bound);
        Assert.Equal(3, executions.Count);
    }

    [Fact]
    public async Task SendBatchAsync_TotalTimeoutBoundsTheWholeBatch()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.TotalTimeout = TimeSpan.FromSeconds(2));
        endpoint.Transport.PassNext(3).HangNext();

        var batch = endpoint.Channel.SendBatchAsync("note", [1, 2, 3, 4, 5]).AsTask();
        var delay = await endpoint.Time.WaitForTimerAsync(Bound);
        Assert.Equal(TimeSpan.FromSeconds(2), delay);
        await endpoint.Transport.WaitForAttemptsAsync(4, Bound);
        Assert.False(batch.IsCompleted);
        endpoint.Time.Advance(delay);

        var ex = await Assert.ThrowsAsync<IpcException>(() => batch.WaitAsync(Bound));
        Assert.Equal(IpcErrorCode.Timeout, ex.ErrorCode);
        Assert.Equal(3, ex.AcceptedCount);
        Assert.IsType<IpcTimeoutException>(ex.InnerException);
        Assert.Equal(4, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task SendBatchAsync_CallerCancelsMidway_ThrowsOperationCanceledWithoutRetry()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.PassNext(2).HangNext();
        using var cts = new CancellationTokenSource();

        var batch = endpoint.Channel.SendBatchAsync("note", [1, 2, 3, 4], cancellationToken: cts.Token).AsTask();
        await endpoint.Transport.WaitForAttemptsAsync(3, Bound);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batch.WaitAsync(Bound));
        Assert.Equal(3, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task SendBatchAsync_BreakerOpen_RejectsTheBatchWithNothingSent()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.FailureRatio = 0.5;
        });
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2);
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        }

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendBatchAsync("note", [1, 2]).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.CircuitOpen, ex.ErrorCode);
        Assert.Equal(0, ex.AcceptedCount);
        Assert.True(ex.NotAccepted);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }
}
