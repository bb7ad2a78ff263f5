using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.CircuitBreaker;
using Polly.Simmy;

namespace Ipc.Tests.Resilience;

[Trait("Category", "Resilience")]
public sealed class EndpointResilienceTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task RequestAsync_TransientFailures_RetriesWithExponentialBackoffKeepingMessageId()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.Retry.Delay = TimeSpan.FromMilliseconds(100);
            r.Retry.BackoffType = DelayBackoffType.Exponential;
        });
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 3, notAccepted: true);

        var call = endpoint.RequestAsync("once");
        foreach (var expected in new[] { 100, 200, 400 })
        {
            var delay = await endpoint.Time.WaitForTimerAsync(Bound);
            Assert.Equal(TimeSpan.FromMilliseconds(expected), delay);
            Assert.False(call.IsCompleted);
            endpoint.Time.Advance(delay);
        }

        Assert.Equal("once", await call);
        var attempts = endpoint.Transport.Attempts;
        Assert.Equal(4, attempts.Count);
        Assert.Single(attempts.Select(a => a.Message.MessageId).Distinct());
    }

    [Fact]
    public async Task RequestAsync_ExponentialBackoff_IsCappedAtMaxDelay()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 4;
            r.Retry.Delay = TimeSpan.FromMilliseconds(100);
            r.Retry.MaxDelay = TimeSpan.FromMilliseconds(250);
        });
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 4, notAccepted: true);

        var call = endpoint.RequestAsync();
        foreach (var expected in new[] { 100, 200, 250, 250 })
        {
            var delay = await endpoint.Time.WaitForTimerAsync(Bound);
            Assert.Equal(TimeSpan.FromMilliseconds(expected), delay);
            endpoint.Time.Advance(delay);
        }

        Assert.Equal("hello", await call);
        Assert.Equal(5, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_AppRetryRulesHandleAResponse_RetriesItAndJudgesEachAttemptOnce()
    {
        var judged = new List<(int Attempt, bool Failed)>();
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.Retry.ShouldHandle = args =>
            {
                judged.Add((args.AttemptNumber, args.Outcome.Exception is not null));
                return new ValueTask<bool>(args.Outcome.Exception is not null || args.Outcome.Result is IpcMessage { HasHeaders: true } response && response.Headers.ContainsKey("stale"));
            };
        });
        var answered = 0;
        endpoint.Transport.PassNext().FailNext(IpcErrorCode.Unavailable, notAccepted: true).RespondWith(request =>
        {
            var response = IpcMessage.CreateResponse(request, request.Body);
            if (Interlocked.Increment(ref answered) == 1)
            {
                response.Headers["stale"] = "yes";
            }

            return response;
        });

        Assert.Equal("again", await endpoint.RequestAsync("again"));
        Assert.Equal(3, endpoint.Transport.Attempts.Count);
        Assert.Equal([(0, false), (1, true), (2, false)], judged);
    }

    [Fact]
    public async Task RequestAsync_ResilienceDisabled_KeepsOnlyTheTotalTimeout()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Enabled = false;
            r.Retry.MaxRetryAttempts = 3;
            r.TotalTimeout = TimeSpan.FromSeconds(2);
        });
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 1);

        var failed = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        Assert.Equal(IpcErrorCode.Unavailable, failed.ErrorCode);
        Assert.Single(endpoint.Transport.Attempts);
        Assert.Null(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));

        endpoint.Transport.HangNext();
        var call = endpoint.RequestAsync();
        endpoint.Time.Advance(await endpoint.Time.WaitForTimerAsync(Bound));

        var timedOut = await Assert.ThrowsAsync<IpcTimeoutException>(() => call);
        Assert.Equal(TimeSpan.FromSeconds(2), timedOut.Timeout);
    }

    [Fact]
    public async Task RequestAsync_RetriesExhausted_ThrowsTransientErrorAfterConfiguredAttempts()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 2);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 10, notAccepted: true);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(3, endpoint.Transport.Attempts.Count);
    }

    [Theory]
    [InlineData(IpcErrorCode.RemoteError)]
    [InlineData(IpcErrorCode.NoHandler)]
    [InlineData(IpcErrorCode.Serialization)]
    [InlineData(IpcErrorCode.MessageTooLarge)]
    [InlineData(IpcErrorCode.Unauthorized)]
    [InlineData(IpcErrorCode.NotSupported)]
    [InlineData(IpcErrorCode.ProtocolError)]
    [InlineData(IpcErrorCode.CircuitOpen)]
    [InlineData(IpcErrorCode.Unknown)]
    public async Task RequestAsync_NonTransientError_IsNotRetried(IpcErrorCode code)
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(code);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(code, ex.ErrorCode);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_RemoteErrorFaultResponse_IsNotRetried()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.RespondWith(request => IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.RemoteError, "handler failed", new IpcRemoteError("BOOM", "handler failed"))));

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Equal("BOOM", ex.Remote?.Code);
        Assert.Single(endpoint.Transport.Attempts);
    }

    /// <summary>
    /// A transport that ends a call as cancelled though neither its caller nor a timeout cancelled it fails the call with
    /// an IpcException, not an OperationCanceledException the caller would take for its own cancellation.
    /// </summary>
    [Fact]
    public async Task RequestAsync_TransportCancelsUnasked_ThrowsIpcException()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        endpoint.Transport.RespondWith(_ => throw new OperationCanceledException("the connection dropped the call"));

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unknown, ex.ErrorCode);
        Assert.Equal(ScriptedEndpoint.Name, ex.Endpoint);
        Assert.Contains("ended the call as cancelled, though neither its caller nor a timeout cancelled it", ex.Message, StringComparison.Ordinal);
        Assert.IsType<OperationCanceledException>(ex.InnerException);
    }

    [Fact]
    public async Task RequestAsync_CallerCancels_ThrowsOperationCanceledWithoutRetry()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.HangNext(times: 5);
        using var cts = new CancellationTokenSource();

        var call = endpoint.RequestAsync(cancellationToken: cts.Token);
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendAsync_FailureAfterPossibleAcceptance_IsNotRetried()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 1, notAccepted: false);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendAsync("note", 1).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Single(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendAsync_NotAccepted_IsRetriedWithSameMessageId()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true);

        await endpoint.Channel.SendAsync("note", 1).AsTask().WaitAsync(Bound);

        var attempts = endpoint.Transport.Attempts;
        Assert.Equal(3, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(RecordedKind.OneWay, a.Kind));
        Assert.Single(attempts.Select(a => a.Message.MessageId).Distinct());
    }

    [Fact]
    public async Task PublishAsync_IdempotentEndpoint_IsRetriedAfterAnyTransientFailure()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.Idempotent = true;
        });
        endpoint.Transport.FailNext(IpcErrorCode.Timeout, times: 2, notAccepted: false);

        await endpoint.Channel.PublishAsync("topic", 1).AsTask().WaitAsync(Bound);

        Assert.Equal(3, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task StreamAsync_NotAcceptedBeforeFirstItem_IsRetried()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);
        var items = new List<string>();

        await foreach (var item in endpoint.Client.StreamAsync<string, string>("range", "only").WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            items.Add(item);
        }

        Assert.Equal(["only"], items);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_BreakerThresholdReached_RejectsWithCircuitOpenThenHalfOpensAndCloses()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 0;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(30);
            r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        });
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 3);

        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        Assert.Equal(CircuitState.Closed, state.CircuitState);
        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        Assert.Equal(CircuitState.Open, state.CircuitState);

        var rejected = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        Assert.Equal(IpcErrorCode.CircuitOpen, rejected.ErrorCode);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);

        // After the break one probe goes through; it fails, so the circuit opens again.
        endpoint.Time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        Assert.Equal(3, endpoint.Transport.Attempts.Count);
        Assert.Equal(IpcErrorCode.CircuitOpen, (await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync())).ErrorCode);

        // After the next break the probe succeeds and the circuit closes.
        endpoint.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("hello", await endpoint.RequestAsync());
        Assert.Equal(CircuitState.Closed, state.CircuitState);
        Assert.Equal("again", await endpoint.RequestAsync("again"));
    }

    [Theory]
    [InlineData(IpcErrorCode.RemoteError)]
    [InlineData(IpcErrorCode.NoHandler)]
    [InlineData(IpcErrorCode.Serialization)]
    public async Task RequestAsync_NonTransientFailures_DoNotOpenTheCircuit(IpcErrorCode code)
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 0;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
        });
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        endpoint.Transport.FailNext(code, times: 3);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(code, (await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync())).ErrorCode);
        }

        Assert.Equal(CircuitState.Closed, state.CircuitState);
        Assert.Equal("hello", await endpoint.RequestAsync());
        Assert.Equal(4, endpoint.Transport.Attempts.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the breaker inside the one pipeline Polly reports
    public async Task RequestAsync_CallsTimingOut_OpenTheCircuitAndATimedOutProbeOpensItAgain(bool pollyTelemetry)
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.PollyTelemetry = pollyTelemetry;
            r.TotalTimeout = TimeSpan.FromSeconds(1);
            r.Retry.MaxRetryAttempts = 0;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        });
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        endpoint.Transport.HangNext(times: 3);

        for (var i = 1; i <= 2; i++)
        {
            await TimeOutAsync(endpoint, attempts: i);
        }

        Assert.Equal(CircuitState.Open, state.CircuitState);
        Assert.Equal(IpcErrorCode.CircuitOpen, (await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync())).ErrorCode);

        // The probe after the break times out too: the circuit opens again rather than closing.
        endpoint.Time.Advance(TimeSpan.FromSeconds(5));
        await TimeOutAsync(endpoint, attempts: 3);
        Assert.Equal(CircuitState.Open, state.CircuitState);
    }

    private static async Task TimeOutAsync(ScriptedEndpoint endpoint, int attempts)
    {
        var call = endpoint.RequestAsync();
        await endpoint.Transport.WaitForAttemptsAsync(attempts, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<IpcTimeoutException>(() => call);
    }

    [Fact]
    public async Task RequestAsync_CallsTheCallerCancels_DoNotOpenTheCircuit()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.TotalTimeout = TimeSpan.FromSeconds(1);
            r.Retry.MaxRetryAttempts = 0;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
        });
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        endpoint.Transport.HangNext(times: 2);

        for (var i = 1; i <= 2; i++)
        {
            using var cancel = new CancellationTokenSource();
            var call = endpoint.RequestAsync(cancellationToken: cancel.Token);
            await endpoint.Transport.WaitForAttemptsAsync(i, Bound);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }

        Assert.Equal(CircuitState.Closed, state.CircuitState);
        Assert.Equal("hello", await endpoint.RequestAsync());
    }

    [Fact]
    public async Task RequestAsync_IdempotentEndpointAttemptTimesOut_IsRetriedWithinTotalTimeout()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Idempotent = true;
            r.Retry.MaxRetryAttempts = 2;
            r.AttemptTimeout = TimeSpan.FromSeconds(1);
            r.TotalTimeout = TimeSpan.FromSeconds(10);
        });
        endpoint.Transport.HangNext();

        var call = endpoint.RequestAsync("late");
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("late", await call);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_TotalTimeoutElapses_ThrowsIpcTimeoutAndStopsRetrying()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Idempotent = true;
            r.Retry.MaxRetryAttempts = 5;
            r.AttemptTimeout = TimeSpan.FromSeconds(2);
            r.TotalTimeout = TimeSpan.FromSeconds(3);
        });
        endpoint.Transport.HangNext(times: 10);

        var call = endpoint.RequestAsync();
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(2)); // the first attempt times out and is retried
        await endpoint.Transport.WaitForAttemptsAsync(2, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1)); // the whole call times out

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call);
        Assert.Equal(TimeSpan.FromSeconds(3), ex.Timeout);
        Assert.Equal(ScriptedEndpoint.Name, ex.Endpoint);
        Assert.Equal(2, endpoint.Transport.Attempts.Count);
    }

    [Fact]
    public async Task RequestAsync_CallTimeout_ReplacesTotalTimeout()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.TotalTimeout = TimeSpan.FromSeconds(30));
        endpoint.Transport.HangNext();

        var call = endpoint.RequestAsync(options: new IpcCallOptions { Timeout = TimeSpan.FromSeconds(1) });
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call);
        Assert.Equal(TimeSpan.FromSeconds(1), ex.Timeout);
    }

    /// <summary>A call whose own timeout has no time left fails with Timeout at once: it is not sent, nor left without a timeout.</summary>
    [Theory]
    [InlineData(0, false)]
    [InlineData(-5, false)]
    [InlineData(0, true)]
    public async Task Call_CallTimeoutWithNoTimeLeft_ThrowsTimeoutWithoutSending(int milliseconds, bool send)
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.TotalTimeout = TimeSpan.FromSeconds(30));
        endpoint.Transport.HangNext();
        var options = new IpcCallOptions { Timeout = TimeSpan.FromMilliseconds(milliseconds) };

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => send
            ? endpoint.Channel.SendAsync("note", 1, options).AsTask().WaitAsync(Bound)
            : endpoint.RequestAsync(options: options));

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), ex.Timeout);
        Assert.Equal(ScriptedEndpoint.Name, ex.Endpoint);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    /// <summary>
    /// A total timeout longer than a timer holds (about 49.7 days), from RequestTimeout or a call's own, bounds nothing a
    /// process will see: the call runs as with no timeout, where every call failed before.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RequestAsync_TimeoutLongerThanATimerHolds_RunsWithoutTimeout(bool ownTimeout)
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s.MapRequest<int, int>("echo", x => x)));
        await using var client = TestSupport.Client("calc", address, e => e.RequestTimeout = ownTimeout ? null : TimeSpan.FromDays(60));
        var options = ownTimeout ? new IpcCallOptions { Timeout = TimeSpan.MaxValue } : null;

        Assert.Equal(3, await client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<int, int>("echo", 3, options).AsTask().WaitAsync(Bound));
    }

    /// <summary>A stream's own timeout bounds its start (until the first item) in place of the endpoint's, as a request's does.</summary>
    [Fact]
    public async Task StreamAsync_CallTimeout_ReplacesTotalTimeoutUntilTheFirstItem()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.TotalTimeout = TimeSpan.FromSeconds(30));
        endpoint.Transport.HangNext();

        var call = FirstItemAsync(endpoint.Client.StreamAsync<string, string>("range", "only", new IpcCallOptions { Timeout = TimeSpan.FromSeconds(1) }));
        await endpoint.Transport.WaitForAttemptsAsync(1, Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call.WaitAsync(Bound));
        Assert.Equal(TimeSpan.FromSeconds(1), ex.Timeout);
    }

    private static async Task<string> FirstItemAsync(IAsyncEnumerable<string> items)
    {
        await foreach (var item in items)
        {
            return item;
        }

        throw new InvalidOperationException("The stream ended without an item.");
    }

    [Fact]
    public async Task GetService_ResiliencePipeline_IsTheEndpointsWithItsRetryAndBreaker()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 2;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 3; // the third attempt opens it
        });
        var pipeline = Assert.IsAssignableFrom<ResiliencePipeline>(endpoint.Client.GetService(typeof(ResiliencePipeline)));
        var runs = 0;

        // A call of the app's own through it is retried like the endpoint's calls, and its failures count in the same breaker.
        await Assert.ThrowsAsync<IpcException>(() => pipeline.ExecuteAsync(_ =>
        {
            runs++;
            throw new IpcException(IpcErrorCode.Unavailable, "The server is not there.") { NotAccepted = true };
        }).AsTask().WaitAsync(Bound));

        Assert.Equal(3, runs);
        var state = Assert.IsType<CircuitBreakerStateProvider>(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
        Assert.Equal(CircuitState.Open, state.CircuitState);
        Assert.Equal(IpcErrorCode.CircuitOpen, (await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync())).ErrorCode);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_NamedPipeline_IsUsedInsteadOfStandard()
    {
        await using var endpoint = ScriptedEndpoint.Create(
            r =>
            {
                r.PipelineName = "five-retries";
                r.Retry.MaxRetryAttempts = 1; // ignored: the named pipeline decides
            },
            services => services.AddResiliencePipeline("five-retries", builder => builder.AddRetry(new IpcRetryStrategyOptions { MaxRetryAttempts = 5, Delay = TimeSpan.Zero })));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 5, notAccepted: true);

        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(6, endpoint.Transport.Attempts.Count);
        Assert.Null(endpoint.Client.GetService(typeof(CircuitBreakerStateProvider)));
    }

    [Fact]
    public async Task RequestAsync_OtherPollyRejectionInOwnPipeline_ThrowsUnavailableNotAccepted()
    {
        await using var endpoint = ScriptedEndpoint.Create(
            r => r.PipelineName = "rejecting",
            services => services.AddResiliencePipeline("rejecting", builder => builder.AddChaosFault(1.0, () => new Rejected())));

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.True(ex.NotAccepted);
        Assert.IsType<Rejected>(ex.InnerException);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    /// <summary>A rejection of a strategy of the app's own, such as a rate limiter's.</summary>
    private sealed class Rejected() : Polly.ExecutionRejectedException("Too many calls.");

    [Fact]
    public async Task RequestAsync_ChaosFaultEnabled_FailsBeforeReachingTransport()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 0;
            r.Chaos.Fault.Enabled = true;
            r.Chaos.Fault.InjectionRate = 1;
            r.Chaos.Fault.ErrorCode = IpcErrorCode.Unauthorized;
        });

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_ChaosOutcomeEnabled_ReturnsFaultResponse()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Chaos.Outcome.Enabled = true;
            r.Chaos.Outcome.InjectionRate = 1;
        });

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task RequestAsync_ChaosLatencyEnabled_DelaysAttempt()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Chaos.Latency.Enabled = true;
            r.Chaos.Latency.InjectionRate = 1;
            r.Chaos.Latency.Latency = TimeSpan.FromSeconds(3);
        });

        var call = endpoint.RequestAsync();
        Assert.Equal(TimeSpan.FromSeconds(3), await endpoint.Time.WaitForTimerAsync(Bound));
        Assert.Empty(endpoint.Transport.Attempts);
        endpoint.Time.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal("hello", await call);
        Assert.Single(endpoint.Transport.Attempts);
    }
}
