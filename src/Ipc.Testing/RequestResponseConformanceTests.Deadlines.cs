using System.Buffers;
using Ipc.Serialization;
using Ipc.Transports;
using Xunit;

namespace Ipc.Testing;

/// <summary>Deadlines: the time a call has left travels with its request, and the server keeps to it.</summary>
public abstract partial class RequestResponseConformanceTests<TTransport>
{
    /// <summary>
    /// A request carries the time it has left; when that passes on the server (whose time is faked), the handler's token
    /// is cancelled and the caller gets Timeout, though the caller itself would have waited longer.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_DeadlinePassesOnServer_HandlerTokenCancelledAndCallerGetsTimeout()
    {
        var serverTime = new TimerFakeTimeProvider();
        var address = CreateAddress();
        await StartServerAsync(address, serverTime);
        var transport = TransportClientOf(CreateClient(address));
        var request = BlockRequest(TimeSpan.FromSeconds(5));

        var call = transport.RequestAsync(request, CancellationToken.None).AsTask(); // no timeout of the caller's own: only the server's deadline ends the call
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        await serverTime.WaitForTimerAsync(TimeSpan.FromSeconds(5), Bound); // the request's deadline, armed on arrival
        serverTime.Advance(TimeSpan.FromSeconds(5));

        await Probe.HandlerCancelled.Task.WaitAsync(Bound);
        var response = await call.WaitAsync(Bound);
        Assert.NotNull(response.Fault);
        Assert.Equal(IpcErrorCode.Timeout, response.Fault.ErrorCode);
        var ex = Assert.IsType<IpcTimeoutException>(response.Fault.ToException(EndpointName));
        Assert.Equal(IpcErrorCode.Timeout, ex.ErrorCode);
    }

    /// <summary>A request that reaches the server with no time left is not run, and the caller gets Timeout.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_ArrivesAfterDeadline_NotRunAndCallerGetsTimeout()
    {
        var (_, client) = await StartPairAsync();
        var transport = TransportClientOf(client);

        var response = await transport.RequestAsync(BlockRequest(TimeSpan.Zero), CancellationToken.None).AsTask().WaitAsync(Bound);

        Assert.Equal(IpcErrorCode.Timeout, response.Fault?.ErrorCode);
        Assert.False(Probe.HandlerStarted.Task.IsCompleted, "the handler ran although the request arrived after its deadline");
        Assert.Equal(new AddResponse(3), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));
    }

    /// <summary>
    /// A typed call sends the time its attempt has left, the sooner of its attempt and total timeouts (an attempt timeout
    /// applies to idempotent calls, which it lets be retried): the handler sees it on the request.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_CallWithTimeout_SendsRemainingTimeWithRequest()
    {
        var address = CreateAddress();
        await StartServerAsync(address);
        var attemptTimeout = TimeSpan.FromMinutes(1);
        var client = CreateClient(address, resilience: r =>
        {
            r.TotalTimeout = TimeSpan.FromMinutes(3);
            r.AttemptTimeout = attemptTimeout;
        });

        var sooner = await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "attempt", new IpcCallOptions { Timeout = TimeSpan.FromMinutes(2), Idempotent = true }).AsTask().WaitAsync(Bound);
        var total = TimeSpan.FromSeconds(30);
        var shorter = await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "total", new IpcCallOptions { Timeout = total }).AsTask().WaitAsync(Bound);

        Assert.NotNull(sooner.Timeout);
        Assert.InRange(sooner.Timeout.Value, attemptTimeout - Bound, attemptTimeout);
        Assert.NotNull(shorter.Timeout);
        Assert.InRange(shorter.Timeout.Value, total - Bound, total);
    }

    /// <summary>The transport client behind a conformance client: it sends a message as it is, with no pipeline of its own.</summary>
    private static IIpcTransportClient TransportClientOf(ConformanceClient client) =>
        Assert.IsAssignableFrom<IIpcTransportClient>(client.Requests.GetService(typeof(IIpcTransportClient)));

    /// <summary>A raw request for the <see cref="ConformanceRoutes.Block"/> route with <paramref name="timeout"/> left.</summary>
    private static IpcMessage BlockRequest(TimeSpan timeout)
    {
        var body = new ArrayBufferWriter<byte>();
        new MessagePackIpcSerializer().Serialize(body, "x");
        return new IpcMessage(ConformanceRoutes.Block, body.WrittenMemory.ToArray()) { ContentType = MessagePackIpcSerializer.MediaType, Timeout = timeout };
    }

    /// <summary>Starts a conformance server on <paramref name="address"/> whose time is <paramref name="time"/>.</summary>
    private Task<ConformanceServer> StartServerAsync(string address, TimeProvider time) => StartServerAsync(address, Probe, serviceName: null, time: time);
}
