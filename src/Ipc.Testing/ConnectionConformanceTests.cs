using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// For a transport whose client talks to a running server, with nothing in between that keeps messages (pipes, sockets,
/// HTTP, gRPC): no server, or a server that stops, means <see cref="IpcErrorCode.Unavailable"/> at once, a restarted
/// server is reached again, and the resilience pipeline retries and breaks on it. A broker that keeps messages for a
/// stopped consumer does not subclass this suite; it subclasses <see cref="DurableConformanceTests{TTransport}"/>.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class ConnectionConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.RequestResponse | TransportCapabilities.OneWay;

    /// <summary>With no server, a call fails with Unavailable within a bounded time instead of hanging.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_NoServer_ThrowsUnavailableWithinBound()
    {
        var client = CreateClient(CreateAddress(), e => e.ConnectTimeout = TimeSpan.FromSeconds(2));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.True(ex.IsTransient);
    }

    /// <summary>With no server, a batch fails with Unavailable, saying that none of its messages was accepted.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendBatchAsync_NoServer_ThrowsUnavailableWithNothingAccepted()
    {
        var client = CreateClient(CreateAddress(), e => e.ConnectTimeout = TimeSpan.FromSeconds(2));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Channel.SendBatchAsync(ConformanceRoutes.Numbers, [new Numbered(1), new Numbered(2)]).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(0, ex.AcceptedCount);
        Assert.True(ex.NotAccepted);
    }

    /// <summary>A server that stops mid-call fails the pending call at once with Unavailable, not at its timeout.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_ServerStopsMidCall_ThrowsUnavailable()
    {
        var (server, client) = await StartPairAsync(configureClient: e => e.RequestTimeout = TimeSpan.FromMinutes(10));

        var call = client.Requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        var stopping = server.StopAsync();

        var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(Bound));
        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        await stopping.WaitAsync(Bound);
    }

    /// <summary>
    /// A server that stops while a handler ignores its token fails the pending call with Unavailable without waiting for
    /// that handler: the caller is told while the handler still holds on.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_ServerStopsWhileAHandlerIgnoresItsToken_ThrowsUnavailable()
    {
        var (server, client) = await StartPairAsync(configureClient: e => e.RequestTimeout = TimeSpan.FromMinutes(10));
        var call = client.Requests.RequestAsync(new IpcMessage(ConformanceRoutes.RawHeld, new byte[] { 1, 2, 3 })).AsTask();
        await Probe.RawHeldStarted.Task.WaitAsync(Bound);
        Task? stopping = null;
        try
        {
            stopping = server.StopAsync();

            var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(Bound));
            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        }
        finally
        {
            Probe.ReleaseRawHeld.TrySetResult();
        }

        await stopping.WaitAsync(Bound);
    }

    /// <summary>
    /// A server that stops handles the one-way messages it already accepted before it is stopped: with a handler held
    /// and messages waiting behind it, the stop waits for them; once the handler goes on, every message whose send
    /// completed is handled. (A transport whose send completes only after the handler, such as gRPC, fails the held
    /// send with Unavailable instead: its caller knows.)
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_ServerStopsWithMessagesAccepted_HandlesThemBeforeItStops()
    {
        const int count = 5;
        var (server, client) = await StartPairAsync();
        var held = client.Channel.SendAsync(ConformanceRoutes.Held, new Payload(BitConverter.GetBytes(0))).AsTask();
        await Probe.HeldStarted.Task.WaitAsync(Bound);
        for (var i = 1; i < count; i++)
        {
            await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i)).AsTask().WaitAsync(Bound); // accepted: queued behind the held one
        }

        var stopping = server.StopAsync();
        await WaitUntilUnavailableAsync(client); // the stop has begun: the server takes on no more calls
        Probe.ReleaseHeld.TrySetResult();
        await stopping.WaitAsync(Bound);

        var first = await Record.ExceptionAsync(() => held.WaitAsync(Bound));
        if (first is not null)
        {
            Assert.Equal(IpcErrorCode.Unavailable, Assert.IsType<IpcException>(first).ErrorCode);
        }

        Assert.Equal(Enumerable.Range(first is null ? 0 : 1, first is null ? count : count - 1), Probe.Numbers.Order());
    }

    /// <summary>
    /// A server that stops while a one-way handler never ends waits for it only for the endpoint's DrainTimeout (on the
    /// server's clock): then that handler's token is cancelled, the stop completes, and that message (once its handler
    /// ends on the token) and the messages still waiting behind it are counted in ipc.server.message.failed, not handled
    /// (a broker's queue takes the cancelled one back instead). (A transport whose send completes only after the
    /// handler, such as gRPC, cancels it at once and fails its send with Unavailable: nothing waits behind it.)
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_ServerStopsWhileAOneWayHandlerNeverEnds_StopsAfterDrainTimeoutAndReportsTheRest()
    {
        const int count = 4;
        var drain = TimeSpan.FromSeconds(7);
        var time = new TimerFakeTimeProvider();
        var address = CreateAddress();
        var server = await StartServerAsync(address, Probe, serviceName: null, e => e.DrainTimeout = drain, time);
        using var failed = new MetricCollector<long>(server.Services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.server.message.failed");
        var client = CreateClient(address);
        var blocked = client.Channel.SendAsync(ConformanceRoutes.BlockMessage, new Numbered(0)).AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        for (var i = 1; i < count; i++)
        {
            await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i)).AsTask().WaitAsync(Bound);
        }

        // Answered once the server has read what was sent before it (on a connection, frames are read in order): the
        // messages wait in its queue, and the clock advanced below cuts short no wait for them to arrive.
        await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound);
        var stopping = server.StopAsync();
        var armed = time.WaitForTimerAsync(drain, Bound);
        if (await Task.WhenAny(stopping, armed) == stopping)
        {
            // Nothing was waiting for a turn: the send of the handler that never ends failed, the others were handled.
            await stopping;
            Assert.Equal(IpcErrorCode.Unavailable, (await Assert.ThrowsAsync<IpcException>(() => blocked.WaitAsync(Bound))).ErrorCode);
            Assert.Equal(Enumerable.Range(1, count - 1), Probe.Numbers.Order());
            return;
        }

        await armed;
        Assert.False(Probe.HandlerCancelled.Task.IsCompleted); // the stop waits for the handler until DrainTimeout
        await blocked.WaitAsync(Bound); // accepted

        time.Advance(drain);
        await Probe.HandlerCancelled.Task.WaitAsync(Bound);
        await stopping.WaitAsync(Bound);
        // One per message; and the message whose handler ended on its cancelled token is not delivered either, so it is
        // counted too, unless the transport delivers it again (a broker's queue takes it back).
        var redelivers = client.Channel.Capabilities.HasFlag(TransportCapabilities.AtLeastOnce);
        await failed.WaitForMeasurementsAsync(redelivers ? count - 1 : count, Bound);
        Assert.Equal(count - 1, failed.GetMeasurementSnapshot().Where(m => Equals(m.Tags["messaging.destination.name"], ConformanceRoutes.Numbers)).Sum(m => m.Value));
        Assert.Equal(redelivers ? 0 : 1, failed.GetMeasurementSnapshot().Where(m => Equals(m.Tags["messaging.destination.name"], ConformanceRoutes.BlockMessage)).Sum(m => m.Value));
        Assert.Empty(Probe.Numbers);
    }

    /// <summary>Sends requests until one fails, as once the server's stop has begun; bounded by <see cref="TransportConformanceTests{TTransport}.Bound"/>.</summary>
    private static async Task WaitUntilUnavailableAsync(ConformanceClient client)
    {
        using var bound = new CancellationTokenSource(Bound);
        while (true)
        {
            try
            {
                await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(bound.Token);
            }
            catch (IpcException)
            {
                return;
            }
        }
    }

    /// <summary>A server restarted on the same address is reached again by the same client.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_ServerRestarted_IsReachedAgainBySameClient()
    {
        var address = CreateAddress();
        var server = await StartServerAsync(address);
        var client = CreateClient(address);
        Assert.Equal(new AddResponse(3), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));

        await server.StopAsync().WaitAsync(Bound);
        var down = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));
        Assert.Equal(IpcErrorCode.Unavailable, down.ErrorCode);

        await StartServerAsync(address);
        Assert.Equal(new AddResponse(9), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(4, 5)).AsTask().WaitAsync(Bound));
    }

    /// <summary>
    /// Resilience wraps every transport the same way: with no server, a request, and a one-way message (which the
    /// transport reports as not accepted), is tried once plus the configured number of retries, each reaching the
    /// transport, and then fails with Unavailable.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task Resilience_NoServer_RetriesConfiguredTimesThenThrowsUnavailable()
    {
        var counter = new AttemptCountingTransport.Counter();
        var client = CreateClient(CreateAddress(), e => e.ConnectTimeout = TimeSpan.FromSeconds(2), new FakeTimeProvider(), r =>
        {
            r.Retry.MaxRetryAttempts = 3;
            r.Retry.Delay = TimeSpan.Zero; // the retry rules are the same for every transport; their timing is tested on a fake transport
            r.CircuitBreaker.MinimumThroughput = 100;
        }, counter);

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(4, counter.Count);

        // A one-way message is retried as well: with no server the transport knows that nothing was accepted.
        var sent = await Assert.ThrowsAsync<IpcException>(() => client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(1)).AsTask().WaitAsync(Bound));
        Assert.Equal(IpcErrorCode.Unavailable, sent.ErrorCode);
        Assert.True(sent.NotAccepted);
        Assert.Equal(8, counter.Count);
    }

    /// <summary>
    /// The circuit breaker wraps every transport the same way: after the threshold it rejects calls with CircuitOpen without
    /// reaching the transport, lets one through after the break (time is faked), and closes when it succeeds.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task Resilience_BreakerOpens_RejectsWithoutReachingTransportThenCloses()
    {
        var time = new FakeTimeProvider();
        var counter = new AttemptCountingTransport.Counter();
        var address = CreateAddress();
        var client = CreateClient(address, e => e.ConnectTimeout = TimeSpan.FromSeconds(2), time, r =>
        {
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        }, counter);
        var state = Assert.IsType<Polly.CircuitBreaker.CircuitBreakerStateProvider>(client.Requests.GetService(typeof(Polly.CircuitBreaker.CircuitBreakerStateProvider)));
        Task<AddResponse> Add() => client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(2, 3)).AsTask().WaitAsync(Bound);

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(IpcErrorCode.Unavailable, (await Assert.ThrowsAsync<IpcException>(Add)).ErrorCode);
        }

        var rejected = await Assert.ThrowsAsync<IpcException>(Add);
        Assert.Equal(IpcErrorCode.CircuitOpen, rejected.ErrorCode);
        Assert.False(rejected.IsTransient);
        Assert.Equal(2, counter.Count);
        Assert.Equal(Polly.CircuitBreaker.CircuitState.Open, state.CircuitState);

        await StartServerAsync(address);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(new AddResponse(5), await Add());
        Assert.Equal(3, counter.Count);
        Assert.Equal(Polly.CircuitBreaker.CircuitState.Closed, state.CircuitState);
    }
}
