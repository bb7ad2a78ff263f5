using System.Collections.Concurrent;

namespace Ipc.Tests.Resilience;

/// <summary>Each attempt of a request sends the time it has left (<see cref="IpcMessage.Timeout"/>); time is faked.</summary>
public sealed class CallDeadlinesTests
{
    [Fact]
    public async Task RequestAsync_IdempotentAttemptTimeoutSoonerThanTotal_SendsAttemptTimeout()
    {
        await using var endpoint = Create(r =>
        {
            r.TotalTimeout = TimeSpan.FromSeconds(10);
            r.AttemptTimeout = TimeSpan.FromSeconds(4);
            r.Idempotent = true; // only an idempotent call's attempts are cut short, to be retried
        }, out var sent);

        await endpoint.RequestAsync();

        Assert.Equal([TimeSpan.FromSeconds(4)], sent);
    }

    [Fact]
    public async Task RequestAsync_NotIdempotent_SendsTheTotalTimeoutNotTheAttemptTimeout()
    {
        await using var endpoint = Create(r =>
        {
            r.TotalTimeout = TimeSpan.FromSeconds(10);
            r.AttemptTimeout = TimeSpan.FromSeconds(4);
        }, out var sent);

        await endpoint.RequestAsync();

        Assert.Equal([TimeSpan.FromSeconds(10)], sent);
    }

    [Fact]
    public async Task RequestAsync_CallTimeoutSoonerThanAttempt_SendsCallTimeout()
    {
        await using var endpoint = Create(r =>
        {
            r.TotalTimeout = TimeSpan.FromSeconds(10);
            r.AttemptTimeout = TimeSpan.FromSeconds(4);
        }, out var sent);

        await endpoint.RequestAsync(options: new IpcCallOptions { Timeout = TimeSpan.FromSeconds(2) });

        Assert.Equal([TimeSpan.FromSeconds(2)], sent);
    }

    [Fact]
    public async Task RequestAsync_NoTimeout_SendsNoDeadline()
    {
        await using var endpoint = Create(r => { }, out var sent); // the endpoint's timeouts are infinite

        await endpoint.RequestAsync();

        Assert.Equal([null], sent);
    }

    [Fact]
    public async Task RequestAsync_Retried_SecondAttemptSendsWhatIsLeftOfTotal()
    {
        await using var endpoint = Create(r =>
        {
            r.TotalTimeout = TimeSpan.FromSeconds(10);
            r.Retry.MaxRetryAttempts = 1;
            r.Retry.Delay = TimeSpan.FromSeconds(1);
        }, out var sent);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);

        var call = endpoint.RequestAsync();
        await endpoint.Time.WaitForTimerAsync(TimeSpan.FromSeconds(1), TestSupport.Bound); // the retry delay
        endpoint.Time.Advance(TimeSpan.FromSeconds(1));
        await call;

        Assert.Equal([TimeSpan.FromSeconds(9)], sent);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(30, 4)]
    public async Task RequestAsync_RawMessageWithItsOwnTimeout_SendsSoonerAndGivesItBack(int ownSeconds, int sentSeconds)
    {
        await using var endpoint = Create(r =>
        {
            r.TotalTimeout = TimeSpan.FromSeconds(10);
            r.AttemptTimeout = TimeSpan.FromSeconds(4);
            r.Idempotent = true;
        }, out var sent);
        var own = TimeSpan.FromSeconds(ownSeconds);
        var message = new IpcMessage("echo", new byte[] { 1 }) { Timeout = own };

        await endpoint.Client.RequestAsync(message).AsTask().WaitAsync(TestSupport.Bound);

        Assert.Equal([TimeSpan.FromSeconds(sentSeconds)], sent);
        Assert.Equal(own, message.Timeout);
    }

    [Fact]
    public async Task RequestAsync_RequestTimeout_WinsOverTotalTimeoutAndDropsTheKindsAttemptTimeout()
    {
        // A local endpoint, whose attempt timeout is 5 seconds by default: a RequestTimeout of 5 seconds is one budget.
        var configuration = TestSupport.Json("""
            {
              "Ipc": {
                "Resilience": { "TotalTimeout": "00:00:20", "Idempotent": true, "Retry": { "Delay": "00:00:00", "UseJitter": false } },
                "Endpoints": { "svc": { "RequestTimeout": "00:00:05" } }
              }
            }
            """);
        var sent = new ConcurrentQueue<TimeSpan?>();
        await using var endpoint = ScriptedEndpoint.Create(configuration: configuration);
        endpoint.Transport.RespondWith(request =>
        {
            sent.Enqueue(request.Timeout);
            return IpcMessage.CreateResponse(request, request.Body);
        });

        await endpoint.RequestAsync();
        await endpoint.RequestAsync(options: new IpcCallOptions { Timeout = TimeSpan.FromSeconds(3) });

        Assert.Equal([TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3)], sent);

        // Each call armed its total timeout and nothing else: no attempt timeout of 5 seconds after the first call's.
        Assert.Equal(TimeSpan.FromSeconds(5), await endpoint.Time.WaitForTimerAsync(TestSupport.Bound));
        Assert.Equal(TimeSpan.FromSeconds(3), await endpoint.Time.WaitForTimerAsync(TestSupport.Bound));
    }

    private static ScriptedEndpoint Create(Action<IpcResilienceOptions> resilience, out ConcurrentQueue<TimeSpan?> sent)
    {
        var seen = new ConcurrentQueue<TimeSpan?>();
        var endpoint = ScriptedEndpoint.Create(resilience);
        endpoint.Transport.RespondWith(request =>
        {
            seen.Enqueue(request.Timeout);
            return IpcMessage.CreateResponse(request, request.Body);
        });
        sent = seen;
        return endpoint;
    }
}
