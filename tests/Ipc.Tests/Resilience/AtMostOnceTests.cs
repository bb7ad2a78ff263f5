using Polly.CircuitBreaker;

namespace Ipc.Tests.Resilience;

/// <summary>
/// Calls run at most once: a call is retried only when the transport reports that it never reached the server, unless the
/// endpoint, the route or the call is marked idempotent.
/// </summary>
[Trait("Category", "Resilience")]
public sealed class AtMostOnceTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    private static string Text(IpcMessage message) => new Ipc.Serialization.MessagePackIpcSerializer().Deserialize<string>(message.Body);

    [Fact]
    public async Task RequestAsync_SlowHandler_IsNotCutShortByAttemptTimeoutNorRetried()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.AttemptTimeout = TimeSpan.FromSeconds(1);
            r.TotalTimeout = TimeSpan.FromSeconds(10);
        });
        endpoint.Transport.HangNext(times: 2);

        var call = endpoint.RequestAsync("slow");
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);

        // An idempotent call started next arms its total and attempt timeouts after whatever the first call armed:
        // so the first call armed its total timeout only, and no attempt timeout can abandon and resend it.
        using var cancel = new CancellationTokenSource();
        var marker = endpoint.RequestAsync("marker", new IpcCallOptions { Idempotent = true }, cancel.Token);
        await endpoint.Transport.WaitForAttemptsAsync(2, Bound);
        Assert.Equal(TimeSpan.FromSeconds(10), await endpoint.Time.WaitForTimerAsync(Bound));
        Assert.Equal(TimeSpan.FromSeconds(10), await endpoint.Time.WaitForTimerAsync(Bound));
        Assert.Equal(TimeSpan.FromSeconds(1), await endpoint.Time.WaitForTimerAsync(Bound));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => marker);

        endpoint.Time.Advance(TimeSpan.FromSeconds(10));

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call);
        Assert.Equal(TimeSpan.FromSeconds(10), ex.Timeout);
        Assert.Equal(["slow", "marker"], endpoint.Transport.Attempts.Select(a => Text(a.Message)));
    }

    [Fact]
    public async Task RequestAsync_ConnectionLostAfterSend_FailsWithUnavailableWithoutRetry()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_NotAccepted_IsRetriedWithSameMessageId()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true);

        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(3, endpoint.Transport.Attempts.Count);
        Assert.Single(endpoint.Transport.Attempts.Select(a => a.Message.MessageId).Distinct());
    }

    [Fact]
    public async Task StreamAsync_ConnectionLostBeforeFirstItem_FailsWithoutRetry()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(async () =>
        {
            await foreach (var _ in endpoint.Client.StreamAsync<string, string>("range", "only").WithCancellation(new CancellationTokenSource(Bound).Token))
            {
            }
        });

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_IdempotentEndpoint_IsRetriedAfterAttemptTimeoutAndLostConnection()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Idempotent = true;
            r.Retry.MaxRetryAttempts = 3;
            r.AttemptTimeout = TimeSpan.FromSeconds(1);
            r.TotalTimeout = TimeSpan.FromSeconds(10);
        });
        endpoint.Transport.HangNext().FailNext(IpcErrorCode.Unavailable, notAccepted: false);

        var call = endpoint.RequestAsync("twice");
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("twice", await call);
        Assert.Equal(3, endpoint.Transport.Attempts.Count);
        Assert.Single(endpoint.Transport.Attempts.Select(a => a.Message.MessageId).Distinct());
    }

    [Fact]
    public async Task RequestAsync_IdempotentRoute_IsRetriedAndOtherRoutesAreNot()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.IdempotentRoutes.Add("echo");
        });
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: false);

        Assert.Equal("hello", await endpoint.RequestAsync());
        Assert.Equal(3, endpoint.Transport.Attempts.Count);

        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: false);
        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Client.RequestAsync<string, string>("charge", "card").AsTask().WaitAsync(Bound));
        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(4, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_IdempotentCall_IsRetriedAfterAttemptTimeout()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.AttemptTimeout = TimeSpan.FromSeconds(1);
            r.TotalTimeout = TimeSpan.FromSeconds(10);
        });
        endpoint.Transport.HangNext();

        var call = endpoint.RequestAsync("read", new IpcCallOptions { Idempotent = true });
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("read", await call);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_CallNotIdempotentOnIdempotentEndpoint_IsNotRetried()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Idempotent = true;
            r.Retry.MaxRetryAttempts = 3;
        });
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync("pay", new IpcCallOptions { Idempotent = false }));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_IdempotentFromConfiguration_IsRetried()
    {
        var configuration = TestSupport.Json("""
            {
              "Ipc": {
                "Resilience": { "Retry": { "MaxRetryAttempts": 3, "Delay": "00:00:00", "UseJitter": false } },
                "Endpoints": {
                  "svc": { "Resilience": { "IdempotentRoutes": [ "echo" ] } }
                }
              }
            }
            """);
        await using var endpoint = ScriptedEndpoint.Create(configuration: configuration);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: false);

        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(3, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_IdempotentRoutesOfGlobalAndEndpointConfiguration_AddUpAndMatchCaseSensitively()
    {
        var configuration = TestSupport.Json("""
            {
              "Ipc": {
                "Resilience": { "IdempotentRoutes": [ "get-price" ], "Retry": { "MaxRetryAttempts": 3, "Delay": "00:00:00", "UseJitter": false } },
                "Endpoints": {
                  "svc": { "Resilience": { "IdempotentRoutes": [ "search" ] } }
                }
              }
            }
            """);
        await using var endpoint = ScriptedEndpoint.Create(configuration: configuration);

        foreach (var route in new[] { "get-price", "search" })
        {
            endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: false);
            Assert.Equal(route, await endpoint.Client.RequestAsync<string, string>(route, route).AsTask().WaitAsync(Bound));
        }

        Assert.Equal(4, endpoint.Transport.Attempts.Count);

        // Another case is another route, which runs at most once.
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: false);
        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Client.RequestAsync<string, string>("Search", "Search").AsTask().WaitAsync(Bound));
        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(5, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_PendingWhenPeerDied_FailsWithUnavailableUnderDefaultPipeline()
    {
        // The default pipeline of a local transport (retries, breaker, attempt timeout), on fake time.
        await using var endpoint = ScriptedEndpoint.Create(configuration: TestSupport.Json("""{ "Ipc": { } }"""));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.True(ex.IsTransient);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_RetryRefusedByBreakerOpenedByTheCall_FailsWithTheCauseNotCircuitOpen()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Idempotent = true;
            r.Retry.MaxRetryAttempts = 3;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        });
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
        Assert.Equal(CircuitState.Open, state.CircuitState);

        // A call the open breaker refuses to start is what CircuitOpen means.
        var refused = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        Assert.Equal(IpcErrorCode.CircuitOpen, refused.ErrorCode);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task StreamAsync_RetryRefusedByBreakerOpenedByTheCall_FailsWithTheCauseNotCircuitOpen()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        });
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true);

        var ex = await Assert.ThrowsAsync<IpcException>(() => DrainAsync(endpoint));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
        Assert.Equal(CircuitState.Open, state.CircuitState);

        // A stream the open breaker refuses to start is what CircuitOpen means.
        var refused = await Assert.ThrowsAsync<IpcException>(() => DrainAsync(endpoint));
        Assert.Equal(IpcErrorCode.CircuitOpen, refused.ErrorCode);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    private static async Task DrainAsync(ScriptedEndpoint endpoint)
    {
        await foreach (var _ in endpoint.Client.StreamAsync<string, string>("range", "only").WithCancellation(new CancellationTokenSource(Bound).Token))
        {
        }
    }
}
