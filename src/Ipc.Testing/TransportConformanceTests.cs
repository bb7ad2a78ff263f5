using System.Buffers;
using System.Diagnostics;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// The conformance suite every Ipc transport passes. A transport's test project subclasses it in a few lines:
/// <code>
/// [Trait("Transport", "InMemory")]
/// public sealed class InMemoryConformanceTests : TransportConformanceTests
/// {
///     protected override string CreateAddress() => $"inmemory://conformance-{Guid.NewGuid():N}";
/// }
/// </code>
/// Every test carries <c>Category=Conformance</c> (declared on each fact) and the subclass's <c>Transport</c> trait, which must equal the
/// transport's <see cref="IIpcTransport.Name"/>. Waits are on events with a bounded timeout; no test sleeps.
/// </summary>
public abstract partial class TransportConformanceTests : IAsyncLifetime
{
    /// <summary>The endpoint name both sides use.</summary>
    protected const string EndpointName = "conformance";

    /// <summary>The longest any awaited event may take before the test fails instead of hanging.</summary>
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private readonly List<IAsyncDisposable> _resources = [];

    /// <summary>Gets what the conformance handlers saw.</summary>
    protected ConformanceProbe Probe { get; } = new();

    /// <summary>Returns a new address no other test uses (for example <c>pipe://conformance-&lt;guid&gt;</c>).</summary>
    protected abstract string CreateAddress();

    /// <summary>Registers the transport on a client or server (not needed when the adapter is discovered by reference).</summary>
    protected virtual void ConfigureIpc(IIpcBuilder ipc)
    {
    }

    /// <summary>Adjusts the endpoint options both sides use (for example a transport's own settings).</summary>
    protected virtual void ConfigureEndpoint(IpcEndpointOptions endpoint)
    {
    }

    /// <summary>Checks that nothing of <paramref name="address"/> is left once client and server are disposed (socket files, segments, queues).</summary>
    protected virtual ValueTask AssertReleasedAsync(string address) => default;

    /// <inheritdoc />
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public virtual async Task DisposeAsync()
    {
        for (var i = _resources.Count - 1; i >= 0; i--)
        {
            await _resources[i].DisposeAsync().AsTask().WaitAsync(Bound);
        }
    }

    /// <summary>Starts a conformance server on <paramref name="address"/>.</summary>
    protected async Task<ConformanceServer> StartServerAsync(string address, Action<IpcEndpointOptions>? configure = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var ipc = builder.Services.AddIpc();
        ConfigureIpc(ipc);
        ipc.AddEndpoint(EndpointName, address, endpoint =>
        {
            ConfigureEndpoint(endpoint);
            configure?.Invoke(endpoint);
        });
        ipc.AddServer(EndpointName, server => server.MapConformanceRoutes(Probe));
        var host = builder.Build();
        var server = new ConformanceServer(host, address);
        _resources.Add(server);
        await host.StartAsync().WaitAsync(Bound);
        return server;
    }

    /// <summary>Creates a conformance client of <paramref name="address"/> with its own service provider.</summary>
    /// <remarks>
    /// Its calls run with retries off, so each fact sees what the transport itself does; the resilience facts turn them on
    /// with <paramref name="resilience"/>, which runs after.
    /// </remarks>
    protected ConformanceClient CreateClient(string address, Action<IpcEndpointOptions>? configure = null, TimeProvider? timeProvider = null, Action<IpcResilienceOptions>? resilience = null) =>
        CreateClient(address, configure, timeProvider, resilience, counter: null);

    private ConformanceClient CreateClient(string address, Action<IpcEndpointOptions>? configure, TimeProvider? timeProvider, Action<IpcResilienceOptions>? resilience, AttemptCountingTransport.Counter? counter)
    {
        var services = new ServiceCollection();
        if (timeProvider is not null)
        {
            services.AddSingleton(timeProvider);
        }

        var ipc = services.AddIpc();
        ConfigureIpc(ipc);
        ipc.AddEndpoint(EndpointName, address, endpoint =>
        {
            ConfigureEndpoint(endpoint);
            configure?.Invoke(endpoint);
        });
        ipc.ConfigureResilience(EndpointName, r =>
        {
            r.Enabled = true; // the standard pipeline on every transport, in-process ones included
            r.Retry.MaxRetryAttempts = 0;
        });
        if (resilience is not null)
        {
            ipc.ConfigureResilience(EndpointName, resilience);
        }

        if (counter is not null)
        {
            AttemptCountingTransport.Install(services, counter);
        }

        var client = new ConformanceClient(services.BuildServiceProvider(validateScopes: true), EndpointName);
        _resources.Add(client);
        return client;
    }

    /// <summary>Starts a server on a new address and returns a client of it.</summary>
    protected async Task<(ConformanceServer Server, ConformanceClient Client)> StartPairAsync(
        Action<IpcEndpointOptions>? configureServer = null, Action<IpcEndpointOptions>? configureClient = null, TimeProvider? clientTime = null)
    {
        var address = CreateAddress();
        var server = await StartServerAsync(address, configureServer);
        return (server, CreateClient(address, configureClient, clientTime));
    }

    /// <summary>The subclass names its transport in a <c>Transport</c> trait that matches the transport it tests.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual void Suite_TransportTrait_MatchesTransportName()
    {
        var traits = GetType().GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == "Transport")
            .Select(a => (string?)a.ConstructorArguments[1].Value)
            .ToList();
        var trait = Assert.Single(traits);

        var address = new Uri(CreateAddress());
        var client = CreateClient(address.OriginalString);
        var transport = client.Services.GetServices<IIpcTransport>().Single(t => t.Schemes.Contains(address.Scheme, StringComparer.OrdinalIgnoreCase));
        Assert.Equal(transport.Name, trait);
    }

    /// <summary>A typed request reaches its handler and the typed response comes back.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_Typed_RoundTrips()
    {
        var (_, client) = await StartPairAsync();

        var response = await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(Bound);

        Assert.Equal(new AddResponse(42), response);
    }

    /// <summary>Raw bodies pass byte for byte, every byte value included.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_RawBytes_AreByteExact()
    {
        var (_, client) = await StartPairAsync();
        var body = new byte[70_000];
        new Random(7).NextBytes(body);
        for (var i = 0; i < 256; i++)
        {
            body[i] = (byte)i;
        }

        var response = await client.Requests.RequestAsync(new IpcMessage(ConformanceRoutes.Raw, body)).AsTask().WaitAsync(Bound);

        Array.Reverse(body);
        Assert.Equal(body, response.Body.ToArray());
    }

    /// <summary>Headers (Unicode and long values included), the message id and the correlation id reach the handler; response headers come back.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HeadersAndIds_ArePreserved()
    {
        var (_, client) = await StartPairAsync();
        var headers = new Dictionary<string, string>
        {
            ["x-tenant"] = "contoso",
            ["x-unicode"] = "héllo wörld ✓ 日本語 🚀",
            ["x-empty"] = string.Empty,
            ["x-long"] = string.Concat(Enumerable.Repeat("ü✓ ", 1500)), // 9,000 bytes of UTF-8: a long string, and long metadata
        };
        var options = new IpcCallOptions { Headers = headers, MessageId = "message-0001", CorrelationId = "correlation-0001" };

        var info = await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "hi", options).AsTask().WaitAsync(Bound);

        foreach (var (name, value) in headers)
        {
            Assert.True(info.Headers.TryGetValue(name, out var seen), $"header {name} was lost");
            Assert.Equal(value, seen);
        }

        Assert.Equal("message-0001", info.MessageId);
        Assert.Equal("correlation-0001", info.CorrelationId);

        var serializer = client.Services.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.MessagePackSerializer);
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(buffer, "hi");
        var raw = new IpcMessage(ConformanceRoutes.Inspect, buffer.WrittenMemory.ToArray());
        var response = await client.Requests.RequestAsync(raw).AsTask().WaitAsync(Bound);
        Assert.Equal("réponse ✓", response.Headers[ConformanceRoutes.ResponseHeader]);
        Assert.Equal(raw.CorrelationId, response.CorrelationId);
    }

    /// <summary>10,000 one-way messages are each delivered exactly once, in order where the transport is Ordered.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_TenThousandMessages_AreDeliveredExactlyOnce()
    {
        const int count = 10_000;
        var (_, client) = await StartPairAsync();
        Probe.ExpectNumbers(count);

        for (var i = 0; i < count; i++)
        {
            await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i));
        }

        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var received = Probe.Numbers;
        Assert.Equal(count, received.Count);
        if (client.Channel.Capabilities.HasFlag(TransportCapabilities.Ordered))
        {
            Assert.Equal(Enumerable.Range(0, count), received);
        }
        else
        {
            Assert.Equal(Enumerable.Range(0, count), received.Order());
        }
    }

    /// <summary>
    /// 10,000 one-way messages sent in batches of 500 are each delivered exactly once, each with an id of its own, in
    /// order where the transport is Ordered.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendBatchAsync_TenThousandMessagesInBatches_AreDeliveredExactlyOnce()
    {
        const int count = 10_000;
        const int batchSize = 500;
        var (_, client) = await StartPairAsync();
        Probe.ExpectNumbers(count);

        for (var start = 0; start < count; start += batchSize)
        {
            await client.Channel.SendBatchAsync(ConformanceRoutes.Numbers, Enumerable.Range(start, batchSize).Select(i => new Numbered(i))).AsTask().WaitAsync(Bound);
        }

        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var received = Probe.Numbers;
        Assert.Equal(count, received.Count);
        Assert.Equal(Enumerable.Range(0, count), client.Channel.Capabilities.HasFlag(TransportCapabilities.Ordered) ? received : received.Order());
    }

    /// <summary>
    /// A server that handles nothing for a while makes senders wait for space instead of buffering without bound, and
    /// once it goes on, every message sent meanwhile arrives exactly once.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_ServerStalled_SendersWaitThenEveryMessageArrives()
    {
        // 10,000 messages of 3 KiB: 30 MiB, more than a server queue, the buffers between the two ends and a client's
        // write buffer hold together, so some sends must still be waiting while the server is held.
        const int count = 10_000;
        var address = CreateAddress();
        await StartServerAsync(address, e => e.MaxMessageSize = 4096);
        var client = CreateClient(address, resilience: r =>
        {
            r.TotalTimeout = TimeSpan.FromMinutes(2); // waiting for space is what this fact is about: no timeout may end it
            r.AttemptTimeout = TimeSpan.FromMinutes(1);
        });
        Probe.ExpectNumbers(count);

        var sends = new Task[count];
        for (var i = 0; i < count; i++)
        {
            var data = new byte[3 * 1024];
            BitConverter.TryWriteBytes(data, i);
            sends[i] = client.Channel.SendAsync(ConformanceRoutes.Held, new Payload(data)).AsTask();
        }

        Assert.Contains(sends, send => !send.IsCompleted);
        Probe.ReleaseHeld.TrySetResult();
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(60));
        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers.Order());
    }

    /// <summary>
    /// A handler that blocks its thread, instead of awaiting, holds up no other call: a second call on the same client
    /// (and so, with the default pool of one, the same connection) is served meanwhile, and releases the first.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HandlerBlocksItsThread_OtherCallsAreServedMeanwhile()
    {
        var (_, client) = await StartPairAsync();
        var blocked = Task.Run(() => client.Requests.RequestAsync<string, bool>(ConformanceRoutes.BlockThread, "hold").AsTask());
        await Probe.ThreadBlocked.Task.WaitAsync(Bound);

        var unblocked = await client.Requests.RequestAsync<string, string>(ConformanceRoutes.Unblock, "go").AsTask().WaitAsync(Bound);

        Assert.Equal("go", unblocked);
        Assert.True(await blocked.WaitAsync(Bound));
    }

    /// <summary>
    /// A caller that blocks on a second call right after its first one returned (sync over async, wherever the first one
    /// left it) does not deadlock the client: the second call completes too.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_CallerBlocksOnAnotherCallAfterOneReturns_BothComplete()
    {
        var (_, client) = await StartPairAsync();
        var caller = Task.Run(async () =>
        {
            var first = await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2));
            var second = client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(3, 4)).AsTask();
            return (first.Sum, second.Wait(TimeSpan.FromMinutes(1)) ? second.Result.Sum : -1); // blocks this thread, deliberately
        });

        var (first, second) = await caller.WaitAsync(Bound);

        Assert.Equal(3, first);
        Assert.Equal(7, second);
    }

    /// <summary>64 concurrent callers making 100 requests each all get their own answers.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_ConcurrentCallers_GetTheirOwnAnswers()
    {
        var (_, client) = await StartPairAsync();

        var callers = Enumerable.Range(0, 64).Select(caller => Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                var response = await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(caller * 1000, i));
                Assert.Equal(caller * 1000 + i, response.Sum);
            }
        }));

        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>A 1 MiB payload makes the round trip intact.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_OneMebibytePayload_RoundTrips()
    {
        var (_, client) = await StartPairAsync();
        var data = new byte[1024 * 1024];
        new Random(11).NextBytes(data);

        var response = await client.Requests.RequestAsync<Payload, Payload>(ConformanceRoutes.Echo, new Payload(data)).AsTask().WaitAsync(Bound);

        Assert.Equal(data, response.Data);
    }

    /// <summary>A payload over the client's limit fails with MessageTooLarge before it is sent; the client stays usable.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_OverClientLimit_ThrowsMessageTooLarge()
    {
        var (_, client) = await StartPairAsync(configureClient: e => e.MaxMessageSize = 64 * 1024);

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<Payload, Payload>(ConformanceRoutes.Echo, new Payload(new byte[128 * 1024])).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.MessageTooLarge, ex.ErrorCode);
        Assert.Equal(new AddResponse(3), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));
    }

    /// <summary>A payload over the server's limit fails with MessageTooLarge and the same connection keeps working.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_OverServerLimit_ThrowsMessageTooLargeAndConnectionStaysUsable()
    {
        var (_, client) = await StartPairAsync(configureServer: e => e.MaxMessageSize = 64 * 1024, configureClient: e => e.MaxMessageSize = 1024 * 1024);
        Assert.Equal(new AddResponse(3), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<Payload, Payload>(ConformanceRoutes.Echo, new Payload(new byte[256 * 1024])).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.MessageTooLarge, ex.ErrorCode);
        Assert.Equal(new AddResponse(7), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(3, 4)).AsTask().WaitAsync(Bound));
    }

    /// <summary>
    /// A handler's unhandled exception reaches the caller as a generic RemoteError: no exception type, message or stack
    /// trace, unless the server enables detailed errors.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HandlerThrows_ThrowsGenericRemoteError()
    {
        var (_, client) = await StartPairAsync();

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>(ConformanceRoutes.Fail, "disk full").AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.False(ex.IsTransient);
        Assert.NotNull(ex.Remote);
        Assert.Equal(IpcRemoteError.UnhandledExceptionCode, ex.Remote.Code);
        Assert.DoesNotContain("boom", ex.Remote.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("boom", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(InvalidOperationException), ex.Message, StringComparison.Ordinal);
        Assert.Null(ex.Remote.Details);
    }

    /// <summary>A handler's <see cref="IpcHandlerException"/> reaches the caller with its code and details.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HandlerThrowsWithCode_CarriesCodeAndDetails()
    {
        var (_, client) = await StartPairAsync();

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>(ConformanceRoutes.FailWithCode, "x").AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Equal("ACCOUNT_LOCKED", ex.Remote!.Code);
        Assert.Equal("The account is locked.", ex.Remote.Message);
        Assert.Equal("60", ex.Remote.Details!["retryAfter"]);
    }

    /// <summary>An unknown route gives NoHandler, naming the route.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_UnknownRoute_ThrowsNoHandler()
    {
        var (_, client) = await StartPairAsync();

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>("no-such-route", "x").AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
        Assert.Contains("no-such-route", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A body of the wrong type gives Serialization, and the server keeps serving.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_WrongRequestType_ThrowsSerialization()
    {
        var (_, client) = await StartPairAsync();

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, AddResponse>(ConformanceRoutes.Add, "not numbers").AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.Equal(new AddResponse(3), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));
    }

    /// <summary>Caller cancellation ends the call promptly with OperationCanceledException and cancels the handler's token.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_CallerCancels_EndsPromptlyAndCancelsHandler()
    {
        var (_, client) = await StartPairAsync();
        using var cts = new CancellationTokenSource();

        var call = client.Requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x", cancellationToken: cts.Token).AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Bound));
        await Probe.HandlerCancelled.Task.WaitAsync(Bound);
    }

    /// <summary>A handler slower than the timeout gives Timeout (an <see cref="IpcTimeoutException"/>, a <see cref="TimeoutException"/>); time is faked.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_SlowHandler_ThrowsTimeout()
    {
        var time = new FakeTimeProvider();
        var (_, client) = await StartPairAsync(configureClient: e => e.RequestTimeout = TimeSpan.FromSeconds(5), clientTime: time);

        var call = client.Requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        time.Advance(TimeSpan.FromSeconds(6));

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call.WaitAsync(Bound));
        Assert.IsAssignableFrom<TimeoutException>(ex);
        Assert.True(IpcException.TryGetErrorCode(ex, out var code));
        Assert.Equal(IpcErrorCode.Timeout, code);
        Assert.True(ex.IsTransient);
        await Probe.HandlerCancelled.Task.WaitAsync(Bound);
    }

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

    /// <summary>A stream of N responses arrives complete and in order.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_NResponses_ArriveInOrder()
    {
        var (_, client) = await StartPairAsync();
        var received = new List<int>();

        await foreach (var item in client.Requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(500)).WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            received.Add(item);
        }

        Assert.Equal(Enumerable.Range(0, 500), received);
        await Probe.ProducerStopped.Task.WaitAsync(Bound);
    }

    /// <summary>When the consumer stops reading, the producer on the server stops.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_ConsumerStops_StopsProducer()
    {
        var (_, client) = await StartPairAsync();
        var received = new List<int>();

        await foreach (var item in client.Requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(-1)))
        {
            received.Add(item);
            if (received.Count == 5)
            {
                break;
            }
        }

        Assert.Equal([0, 1, 2, 3, 4], received);
        await Probe.ProducerStopped.Task.WaitAsync(Bound);
    }

    /// <summary>The caller's W3C trace context reaches the handler: same trace id.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_TraceContext_FlowsToHandler()
    {
        using var source = new ActivitySource("Ipc.Testing.Conformance");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Ipc" or "Ipc.Testing.Conformance",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var (_, client) = await StartPairAsync();

        using var parent = source.StartActivity("caller");
        Assert.NotNull(parent);
        var info = await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "trace").AsTask().WaitAsync(Bound);

        Assert.Equal(parent.TraceId.ToHexString(), info.TraceId);
        Assert.True(info.Headers.ContainsKey(IpcHeaderNames.TraceParent));
    }

    /// <summary>Publishing reaches a subscriber where the transport supports it, and fails with NotSupported where it does not.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task PublishAsync_FollowsTransportCapability()
    {
        var (_, client) = await StartPairAsync();

        if (client.Channel.Capabilities.HasFlag(TransportCapabilities.PublishSubscribe))
        {
            await client.Channel.PublishAsync(ConformanceRoutes.Topic, new Numbered(99)).AsTask().WaitAsync(Bound);
            Assert.Equal(new Numbered(99), await Probe.Published.Task.WaitAsync(Bound));
        }
        else
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => client.Channel.PublishAsync(ConformanceRoutes.Topic, new Numbered(99)).AsTask());
            Assert.Equal(IpcErrorCode.NotSupported, ex.ErrorCode);
        }
    }

    /// <summary>Disposing client and server after use finishes promptly and leaves nothing of the address behind.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task Dispose_ClientAndServer_FinishPromptlyAndReleaseEverything()
    {
        var address = CreateAddress();
        var server = await StartServerAsync(address);
        var client = CreateClient(address);
        await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 1)).AsTask().WaitAsync(Bound);
        await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(1)).AsTask().WaitAsync(Bound);

        await client.DisposeAsync().AsTask().WaitAsync(Bound);
        await server.DisposeAsync().AsTask().WaitAsync(Bound);

        await AssertReleasedAsync(address);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 1)).AsTask());
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
