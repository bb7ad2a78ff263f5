using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Request/response calls (<see cref="TransportCapabilities.RequestResponse"/>): typed and raw round trips, headers and
/// ids, concurrency, size limits, handler errors, unknown routes, bad bodies, trace context, and disposal.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract partial class RequestResponseConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.RequestResponse;

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

    /// <summary>Headers (Unicode and long values included), the message id and the correlation id reach the handler, with no header of the transport's own; response headers come back.</summary>
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

        AssertHeadersAsSent(headers, info.Headers);
        Assert.Equal("message-0001", info.MessageId);
        Assert.Equal("correlation-0001", info.CorrelationId);

        var serializer = client.Services.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.MessagePackSerializer);
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(buffer, "hi");
        var raw = new IpcMessage(ConformanceRoutes.Inspect, buffer.WrittenMemory.ToArray());
        var response = await client.Requests.RequestAsync(raw).AsTask().WaitAsync(Bound);
        AssertHeadersAsSent(new Dictionary<string, string> { [ConformanceRoutes.ResponseHeader] = "réponse ✓" }, response.Headers);
        Assert.Equal(raw.CorrelationId, response.CorrelationId);
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

    /// <summary>
    /// Concurrent raw handlers that answer with the request's own body (the same memory, not a copy) each send back
    /// exactly the bytes of their own request: a transport that reuses the memory of large bodies does so only after the
    /// response is written.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_RawHandlerAnswersWithItsRequestBody_EachCallerGetsItsOwnBytes()
    {
        var (_, client) = await StartPairAsync();

        var callers = Enumerable.Range(0, 8).Select(caller => Task.Run(async () =>
        {
            var random = new Random(caller);
            for (var i = 0; i < 16; i++)
            {
                // Half the callers send small bodies between large ones: their frames go out while large bodies do.
                var body = new byte[caller % 2 == 1 && i % 2 == 1 ? 1 + random.Next(2048) : 96 * 1024 + random.Next(64 * 1024)];
                random.NextBytes(body);
                var response = await client.Requests.RequestAsync(new IpcMessage(ConformanceRoutes.RawEcho, body));
                Assert.True(body.AsSpan().SequenceEqual(response.Body.Span), $"caller {caller}, call {i}: the response is not the request's body");
            }
        }));

        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// A request's body stays as it arrived until its handler completes, even when the caller cancelled the call and other
    /// large requests were handled meanwhile (a transport that reuses the memory of large bodies must wait for the handler).
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_CallerCancels_HandlerStillReadsItsBodyIntactUntilItCompletes()
    {
        var (_, client) = await StartPairAsync();
        using var cancel = new CancellationTokenSource();
        var sent = new byte[256 * 1024];
        new Random(5).NextBytes(sent);
        var held = client.Requests.RequestAsync(new IpcMessage(ConformanceRoutes.RawHeld, sent.ToArray()), cancel.Token).AsTask();
        await Probe.RawHeldStarted.Task.WaitAsync(Bound);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held.WaitAsync(Bound));
        for (var i = 0; i < 8; i++)
        {
            var other = new byte[sent.Length];
            new Random(i).NextBytes(other);
            var response = await client.Requests.RequestAsync(new IpcMessage(ConformanceRoutes.RawEcho, other)).AsTask().WaitAsync(Bound);
            Assert.True(other.AsSpan().SequenceEqual(response.Body.Span));
        }

        Probe.ReleaseRawHeld.TrySetResult();
        var read = await Probe.RawHeldBody.Task.WaitAsync(Bound);
        Assert.True(sent.AsSpan().SequenceEqual(read), "the held handler's request body changed before it completed");
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

    /// <summary>
    /// A route name with a <c>.</c> or <c>..</c> segment, or an empty one (a leading or trailing <c>/</c>, <c>//</c>),
    /// gives NoHandler before it is sent, on every transport: URLs resolve dot segments away, and proxies merge slashes,
    /// so over HTTP the call would reach another route (<c>x/../add</c> would be <c>add</c>, <c>a//add</c> <c>a/add</c>).
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_RouteWithDotOrEmptySegment_ThrowsNoHandlerUnsent()
    {
        var (_, client) = await StartPairAsync();

        var routes = new[]
        {
            ("..", "'.' or '..' segment"), (".", "'.' or '..' segment"), ($"x/../{ConformanceRoutes.Add}", "'.' or '..' segment"),
            ($"./{ConformanceRoutes.Add}", "'.' or '..' segment"), ($"{ConformanceRoutes.Add}/.", "'.' or '..' segment"),
            ($"/{ConformanceRoutes.Add}", "empty segment"), ($"{ConformanceRoutes.Add}/", "empty segment"),
            ($"x//{ConformanceRoutes.Add}", "empty segment"), ("/", "empty segment"),
        };
        foreach (var (route, rule) in routes)
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<AddRequest, AddResponse>(route, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));

            Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
            Assert.Contains($"'{route}'", ex.Message, StringComparison.Ordinal);
            Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(new AddResponse(3), await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound));
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

        await Transport.AssertReleasedAsync(address);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 1)).AsTask());
    }
}
