using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ipc.Diagnostics;
using Ipc.Serialization;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Http.Tests;

/// <summary>The server as any HTTP client sees it: a plain <see cref="HttpClient"/>, no Ipc client.</summary>
public sealed class HttpServerTests : IAsyncLifetime
{
    private readonly string _address = HttpTestAddresses.NewHttpAddress();
    private readonly HttpClient _http = new() { Timeout = TestIpc.Bound };
    private IHost? _server;

    public async Task InitializeAsync() =>
        _server = await TestIpc.StartServerAsync(
            _address,
            ipc => ipc.Services.AddHealthChecks().AddCheck("database", () => HealthCheckResult.Healthy()),
            endpoint => endpoint.MaxMessageSize = 64 * 1024);

    public async Task DisposeAsync()
    {
        _http.Dispose();
        if (_server is not null)
        {
            await _server.StopAsync().WaitAsync(TestIpc.Bound);
            _server.Dispose();
        }
    }

    [Fact]
    public async Task Post_JsonBodyAndAcceptJson_AnswersJson()
    {
        using var request = Json("add", """{"a":40,"b":2}""");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("""{"sum":42}""", await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.Contains("Ipc-Message-Id"));
    }

    [Fact]
    public async Task Post_JsonBodyWithoutAccept_AnswersJson()
    {
        using var response = await _http.SendAsync(Json("add", """{"a":1,"b":2}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"sum":3}""", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Post_MessagePackBody_AnswersMessagePack()
    {
        var serializer = new MessagePackIpcSerializer();
        var body = new ArrayBufferWriter<byte>();
        serializer.Serialize(body, new AddRequest(20, 22));
        using var request = new HttpRequestMessage(HttpMethod.Post, _address + "/add") { Content = new ByteArrayContent(body.WrittenSpan.ToArray()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-msgpack");

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-msgpack", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(new AddResponse(42), serializer.Deserialize<AddResponse>(await response.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task Post_UnsupportedContentType_Answers415WithErrorBody()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _address + "/add") { Content = new StringContent("a=1", Encoding.UTF8, "text/plain") };

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        var error = await ReadErrorAsync(response);
        Assert.Equal("Serialization", error.GetProperty("code").GetString());
        Assert.Contains("application/json", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_AcceptNothingTheServerWrites_Answers406WithErrorBody()
    {
        using var request = Json("add", """{"a":1,"b":2}""");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/xml"));

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotAcceptable, response.StatusCode);
        Assert.Equal("Serialization", (await ReadErrorAsync(response)).GetProperty("code").GetString());
    }

    public static TheoryData<string, string, string?, int, string> Failures => new()
    {
        // route, JSON body, Ipc-Timeout, status, error code
        { "no-such-route", "\"x\"", null, 404, "NoHandler" },
        { ConformanceRoutes.Fail, "\"x\"", null, 500, IpcRemoteError.UnhandledExceptionCode },
        { ConformanceRoutes.FailWithCode, "\"x\"", null, 500, "ACCOUNT_LOCKED" },
        { ConformanceRoutes.Add, "{\"a\":", null, 400, "Serialization" },
        { ConformanceRoutes.Add, "{\"a\":1,\"b\":2}", "0", 504, "Timeout" },
        { ConformanceRoutes.Add, "{\"a\":1,\"b\":2}", "soon", 400, "ProtocolError" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Post_Failure_AnswersStatusAndErrorBody(string route, string body, string? timeout, int status, string code)
    {
        using var request = Json(route, body);
        if (timeout is not null)
        {
            request.Headers.Add("Ipc-Timeout", timeout);
        }

        using var response = await _http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = await ReadErrorAsync(response);
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.Object, error.GetProperty("details").ValueKind);
        Assert.DoesNotContain("   at ", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal); // no stack trace unless the server opts in
    }

    [Theory]
    [InlineData("99999999999999999999", 200)] // more milliseconds than a long holds: a deadline too far to matter, as 365 days is
    [InlineData("-99999999999999999999", 504)] // less than none left: none left
    public async Task Post_IpcTimeoutPastTheRangeOfALong_ReadAsAWholeNumber(string timeout, int status)
    {
        using var request = Json(ConformanceRoutes.Add, """{"a":1,"b":2}""");
        request.Headers.Add("Ipc-Timeout", timeout);

        using var response = await _http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        if (status == 200)
        {
            Assert.Equal("""{"sum":3}""", await response.Content.ReadAsStringAsync());
        }
        else
        {
            Assert.Equal("Timeout", (await ReadErrorAsync(response)).GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task Post_HandlerFailsWithCode_ErrorBodyCarriesDetails()
    {
        using var response = await _http.SendAsync(Json(ConformanceRoutes.FailWithCode, "\"x\""));

        var error = await ReadErrorAsync(response);
        Assert.Equal("RemoteError", response.Headers.GetValues("Ipc-Error-Code").Single());
        Assert.NotEmpty(error.GetProperty("details").EnumerateObject());
    }

    [Fact]
    public async Task Post_BodyOverLimit_Answers413BeforeReadingIt()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _address + "/echo") { Content = new ByteArrayContent(new byte[128 * 1024]) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-msgpack");

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("MessageTooLarge", (await ReadErrorAsync(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Post_ChunkedBodyOverLimit_Answers413()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _address + "/echo") { Content = new StreamContent(new UnknownLengthStream(128 * 1024)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-msgpack");

        using var response = await _http.SendAsync(request);

        Assert.Null(request.Content.Headers.ContentLength);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Theory]
    [InlineData("Content-Type", "application/json; charset", 200)] // read leniently, as ASP.NET Core does
    [InlineData("Content-Type", ";;;", 415)]
    [InlineData("Accept", "application/json;q=abc, ]]", 200)]
    [InlineData("Ipc-Header-x", "=?utf-8?b?not base64?=", 400)]
    [InlineData("Ipc-Message-Id", "=?utf-8?b?", 400)]
    public async Task Post_MalformedHeader_AnswersWithoutFailingAndServerGoesOn(string header, string value, int status)
    {
        using var request = Json("add", """{"a":1,"b":2}""");
        if (header == "Content-Type")
        {
            request.Content!.Headers.Remove("Content-Type");
            request.Content.Headers.TryAddWithoutValidation(header, value);
        }
        else
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }

        using var response = await _http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        if (status != 200)
        {
            Assert.False(string.IsNullOrEmpty((await ReadErrorAsync(response)).GetProperty("message").GetString()));
        }

        using var next = await _http.SendAsync(Json("add", """{"a":1,"b":2}"""));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task Post_MalformedChunkedBody_Answers400ProtocolError()
    {
        var uri = new Uri(_address);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {uri.AbsolutePath}/echo HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/x-msgpack\r\nTransfer-Encoding: chunked\r\n\r\nnot-a-chunk-size\r\n"));

        // The server closes the connection after its answer: read it all.
        using var answer = new MemoryStream();
        await stream.CopyToAsync(answer).WaitAsync(TestIpc.Bound);
        var text = Encoding.UTF8.GetString(answer.ToArray());

        Assert.StartsWith("HTTP/1.1 400", text, StringComparison.Ordinal);
        Assert.Contains("Ipc-Error-Code: ProtocolError", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"code\":\"ProtocolError\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_RouteNames_MatchedWithTheirCaseAsOnEveryTransport()
    {
        // Routes are ordinal names: "name" and "Name" are two routes, and "ONLY" is not "only".
        var address = HttpTestAddresses.NewHttpAddress();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, server => server
            .MapRequest<string, string>("name", _ => "lower")
            .MapRequest<string, string>("Name", _ => "upper")
            .MapRequest<string, string>("only", _ => "only"));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        try
        {
            using var lower = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Post, address + "/name") { Content = new StringContent("\"x\"", Encoding.UTF8, "application/json") });
            using var upper = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Post, address + "/Name") { Content = new StringContent("\"x\"", Encoding.UTF8, "application/json") });
            using var other = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Post, address + "/ONLY") { Content = new StringContent("\"x\"", Encoding.UTF8, "application/json") });

            Assert.Equal("\"lower\"", await lower.Content.ReadAsStringAsync());
            Assert.Equal("\"upper\"", await upper.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
            Assert.Equal("NoHandler", (await ReadErrorAsync(other)).GetProperty("code").GetString());
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    [Fact]
    public async Task Post_OneWay_Answers202()
    {
        using var response = await _http.SendAsync(Json(ConformanceRoutes.Numbers, """{"value":7}"""));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    /// <summary>
    /// A one-way message (<c>Ipc-Call: send</c>) to a route the server has no one-way handler for is answered 404 at once,
    /// not accepted with 202 and then dropped: the sender learns that it went nowhere.
    /// </summary>
    [Fact]
    public async Task Post_OneWayToARouteWithNoOneWayHandler_Answers404NoHandler()
    {
        foreach (var (route, says) in new[] { ("nope", "no handler for route 'nope'"), (ConformanceRoutes.Add, "RequestAsync"), (ConformanceRoutes.Range, "StreamAsync") })
        {
            using var request = Json(route, """{"a":1,"b":2}""");
            request.Headers.Add("Ipc-Call", "send");

            using var response = await _http.SendAsync(request);

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            var error = await ReadErrorAsync(response);
            Assert.Equal("NoHandler", error.GetProperty("code").GetString());
            Assert.Contains(says, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        await using var client = TestIpc.CreateClient(_address);
        var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint).SendAsync("nope", 1).AsTask().WaitAsync(TestIpc.Bound));
        Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
    }

    /// <summary>
    /// A one-way message that arrives with no time left (<c>Ipc-Timeout: 0</c>) is answered 504 <c>Timeout</c> at once and
    /// its handler never runs: the sender learns it, instead of a 202 for a message the server then drops.
    /// </summary>
    [Fact]
    public async Task Post_OneWayWithNoTimeLeft_Answers504AndItsHandlerDoesNotRun()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        var handled = new ConcurrentQueue<string>();
        var last = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, server => server
            .MapMessage<string>("recorded", (text, _, _) =>
            {
                handled.Enqueue(text);
                if (text == "last")
                {
                    last.TrySetResult();
                }

                return ValueTask.CompletedTask;
            }));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);

        using var late = Json(address, "recorded", "\"late\"");
        late.Headers.Add("Ipc-Timeout", "0");
        using (var response = await _http.SendAsync(late))
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.Equal("Timeout", (await ReadErrorAsync(response)).GetProperty("code").GetString());
        }

        using (var accepted = await _http.SendAsync(Json(address, "recorded", "\"last\"")))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        await last.Task.WaitAsync(TestIpc.Bound); // handled in order: had "late" been queued, it would have run first
        Assert.Equal(["last"], handled);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>
    /// The time a one-way message waits in the server's queue counts against its <c>Ipc-Timeout</c>: its handler gets only
    /// the time left, and one whose time ran out while it waited is dropped without running its handler.
    /// </summary>
    [Fact]
    public async Task Post_OneWayWaitingInTheQueue_HandlerGetsOnlyTheTimeLeft()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var blocking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new ConcurrentQueue<(string Text, TimeSpan? Timeout)>();
        var last = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddIpc().AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, server => server
            .MapMessage<string>("blocker", async (_, _, _) =>
            {
                blocking.TrySetResult();
                await release.Task;
            })
            .MapMessage<string>("timed", (text, context, _) =>
            {
                handled.Enqueue((text, context.Message.Timeout));
                if (text == "last")
                {
                    last.TrySetResult();
                }

                return ValueTask.CompletedTask;
            }));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);

        using (var accepted = await _http.SendAsync(Json(address, "blocker", "\"x\"")))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        await blocking.Task.WaitAsync(TestIpc.Bound);
        foreach (var (text, timeout) in new[] { ("minute", "60000"), ("five-seconds", "5000"), ("last", null) })
        {
            using var request = Json(address, "timed", $"\"{text}\"");
            if (timeout is not null)
            {
                request.Headers.Add("Ipc-Timeout", timeout);
            }

            using var accepted = await _http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        time.Advance(TimeSpan.FromSeconds(10)); // the three wait behind the blocker that long
        release.SetResult();

        await last.Task.WaitAsync(TestIpc.Bound);
        Assert.Equal([("minute", TimeSpan.FromSeconds(50)), ("last", null)], handled);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>
    /// One-way messages a stopping server drops from its queue (answered 202, never handled) are counted in
    /// ipc.server.message.failed with the server's tags, as every transport counts the messages it drops.
    /// </summary>
    [Fact]
    public async Task StopAsync_OneWayMessagesStillQueued_AreCountedAsFailed()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        var blocking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, server => server
            .MapMessage<string>("blocker", async (_, _, cancellationToken) =>
            {
                blocking.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            })
            .MapMessage<string>("queued", (_, _, _) => ValueTask.CompletedTask));
        using var server = builder.Build();
        using var failed = new MetricCollector<long>(server.Services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.server.message.failed");
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        using (var accepted = await _http.SendAsync(Json(address, "blocker", "\"x\"")))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        await blocking.Task.WaitAsync(TestIpc.Bound);
        for (var i = 0; i < 2; i++)
        {
            using var accepted = await _http.SendAsync(Json(address, "queued", "\"y\""));
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        await server.StopAsync().WaitAsync(TestIpc.Bound);

        await failed.WaitForMeasurementsAsync(1, TestIpc.Bound);
        var queued = failed.GetMeasurementSnapshot().Where(m => Equals(m.Tags["messaging.destination.name"], "queued")).ToList();
        Assert.Equal(2, queued.Sum(m => m.Value));
        Assert.All(queued, m =>
        {
            Assert.Equal(TestIpc.Endpoint, m.Tags["ipc.endpoint"]);
            Assert.Equal("127.0.0.1", m.Tags["server.address"]);
            Assert.Equal("tcp", m.Tags["network.transport"]);
        });
    }

    [Fact]
    public async Task Post_OneWayBodiesPastTheByteLimit_The202WaitsUntilTheHandlerCatchesUp()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        var probe = new ConformanceProbe();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => o.MaxQueuedOneWayBytes = 64 * 1024), endpoint => endpoint.MaxMessageSize = 1024 * 1024, probe);
        var serializer = new MessagePackIpcSerializer();
        HttpRequestMessage Held(int number)
        {
            var data = new byte[20_000];
            BitConverter.TryWriteBytes(data, number);
            var body = new ArrayBufferWriter<byte>();
            serializer.Serialize(body, new Payload(data));
            var request = new HttpRequestMessage(HttpMethod.Post, address + "/" + ConformanceRoutes.Held) { Content = new ByteArrayContent(body.WrittenSpan.ToArray()) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-msgpack");
            return request;
        }

        // The first waits in its handler and three wait behind it: about 80,000 bytes accepted, past the 65,536 allowed
        // only with the fourth, so the fifth sender waits for its 202.
        for (var i = 0; i < 4; i++)
        {
            using var accepted = await _http.SendAsync(Held(i));
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        var fifth = _http.SendAsync(Held(4));
        await Assert.ThrowsAsync<TimeoutException>(() => fifth.WaitAsync(TimeSpan.FromMilliseconds(500)));

        probe.ExpectNumbers(5);
        probe.ReleaseHeld.SetResult();
        using (var response = await fifth.WaitAsync(TestIpc.Bound))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        await probe.NumbersArrived.Task.WaitAsync(TestIpc.Bound);
        Assert.Equal([0, 1, 2, 3, 4], probe.Numbers);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task StopAsync_OneWayHandlerIgnoresItsToken_StopsWhenTheHostStopsWaiting()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, server => server
            .MapMessage<string>("stuck", async (_, _, _) =>
            {
                started.TrySetResult();
                await release.Task; // ignores its token
            }));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        using (var accepted = await _http.SendAsync(Json(address, "stuck", "\"x\"")))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        await started.Task.WaitAsync(TestIpc.Bound);
        using var giveUp = new CancellationTokenSource();
        var stopping = server.StopAsync(giveUp.Token);
        await giveUp.CancelAsync(); // the host's ShutdownTimeout has passed

        var stopped = await Task.WhenAny(stopping, Task.Delay(TestIpc.Bound)) == stopping;
        release.TrySetResult();
        Assert.True(stopped, "The server's StopAsync waited for a one-way handler past the host's cancellation of the stop.");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopping); // as the other listeners: the stop did not finish in time
    }

    [Fact]
    public async Task Connect_PastMaxConnections_ClosedAtOnceAndTheCallFailsUnavailable()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => o.MaxConnections = 1));
        var uri = new Uri(address);

        // The one connection the server serves, kept open after an answer (HTTP/1.1 keep-alive).
        var held = new System.Net.Sockets.TcpClient();
        await held.ConnectAsync(uri.Host, uri.Port);
        var stream = held.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {uri.AbsolutePath}/health HTTP/1.1\r\nHost: {uri.Authority}\r\n\r\n"));
        var answer = new byte[4096];
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(answer, 0, await stream.ReadAsync(answer).AsTask().WaitAsync(TestIpc.Bound)), StringComparison.Ordinal);

        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound));
        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);

        // Once the held connection closes, the server takes the next one.
        held.Dispose();
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        while (true)
        {
            try
            {
                Assert.Equal(new AddResponse(3), await client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2), cancellationToken: bound.Token));
                break;
            }
            catch (IpcException again) when (again.ErrorCode == IpcErrorCode.Unavailable && !bound.IsCancellationRequested)
            {
                await Task.Delay(10, bound.Token); // the server has not yet seen the held connection close
            }
        }

        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task Post_StreamAsNdJson_AnswersOneLinePerItem()
    {
        using var request = Json(ConformanceRoutes.Range, """{"count":3}""");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));

        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"item\":0}\n{\"item\":1}\n{\"item\":2}\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Post_StreamAsFrames_AnswersLengthPrefixedMessagePack()
    {
        var serializer = new MessagePackIpcSerializer();
        var body = new ArrayBufferWriter<byte>();
        serializer.Serialize(body, new RangeRequest(3));
        using var request = new HttpRequestMessage(HttpMethod.Post, _address + "/" + ConformanceRoutes.Range) { Content = new ByteArrayContent(body.WrittenSpan.ToArray()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-msgpack");

        using var response = await _http.SendAsync(request);

        Assert.Equal("application/vnd.ipc.frames", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var items = new List<int>();
        for (var offset = 0; offset < bytes.Length;)
        {
            Assert.Equal(0, bytes[offset]); // an item, not an error
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset + 1));
            items.Add(serializer.Deserialize<int>(bytes.AsMemory(offset + 5, length)));
            offset += 5 + length;
        }

        Assert.Equal([0, 1, 2], items);
    }

    [Fact]
    public async Task GetHealth_Healthy_AnswersSeedShapeWithAppChecks()
    {
        using var response = await _http.GetAsync(_address + "/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("healthy", document.RootElement.GetProperty("status").GetString());
        var checks = document.RootElement.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.Equal("ok", checks["ipc-server:conformance"]);
        Assert.Equal("ok", checks["database"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetHealth_CheckDescriptions_OnlyWithDetailedErrors(bool detailed)
    {
        const string Internal = "db.internal:5432 refused the login of svc_orders";
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(
            address,
            ipc => ipc.Services.AddHealthChecks().AddCheck("database", () => HealthCheckResult.Unhealthy(Internal)),
            endpoint => endpoint.EnableDetailedErrors = detailed);
        try
        {
            using var response = await _http.GetAsync(address + "/health");

            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            using var document = JsonDocument.Parse(text);
            var database = document.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "database");
            Assert.Equal("unhealthy", database.GetProperty("status").GetString());
            Assert.Equal(detailed, database.TryGetProperty("description", out var description));
            Assert.Equal(detailed, text.Contains(Internal, StringComparison.Ordinal));
            if (detailed)
            {
                Assert.Equal(Internal, description.GetString());
            }
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    [Fact]
    public async Task GetHealth_AppAddsIpcHealthChecks_ShowsTheEndpointsCheckOnce()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.Services.AddHealthChecks().AddIpc());
        try
        {
            using var response = await _http.GetAsync(address + "/health");

            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var names = document.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(["ipc-server:conformance"], names);
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    [Fact]
    public async Task GetOpenApi_DescribesEveryRouteWithSchemas()
    {
        using var response = await _http.GetAsync(_address + "/openapi.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        var paths = document.RootElement.GetProperty("paths");
        foreach (var route in new[] { ConformanceRoutes.Add, ConformanceRoutes.Echo, ConformanceRoutes.Numbers, ConformanceRoutes.Range, ConformanceRoutes.Raw })
        {
            Assert.True(paths.TryGetProperty("/conformance/" + route, out var path), $"{route} is missing from {text}");
            Assert.True(path.TryGetProperty("post", out _));
        }

        var add = paths.GetProperty("/conformance/add").GetProperty("post");
        Assert.Contains("AddRequest", add.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetRawText(), StringComparison.Ordinal);
        Assert.Contains("AddResponse", add.GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetRawText(), StringComparison.Ordinal);
        Assert.True(add.GetProperty("responses").TryGetProperty("404", out _));
        var schemas = document.RootElement.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("AddRequest").GetProperty("properties").TryGetProperty("a", out _));
        Assert.True(paths.GetProperty("/conformance/numbers").GetProperty("post").GetProperty("responses").TryGetProperty("202", out _));
    }

    [Fact]
    public async Task Post_AcceptEncodingGzip_AnswersCompressed()
    {
        using var request = Json(ConformanceRoutes.Echo, JsonSerializer.Serialize(new { data = Convert.ToBase64String(new byte[8192]) }));
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));

        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("gzip", Assert.Single(response.Content.Headers.ContentEncoding));
        Assert.True(response.Content.Headers.ContentLength is null or < 8192);
    }

    [Fact]
    public async Task Post_NonAsciiHeaderEncodedWord_ReachesHandlerDecoded()
    {
        var encoded = HttpWire.EncodeValue("Grüße, 世界");
        Assert.StartsWith("=?utf-8?b?", encoded, StringComparison.Ordinal);

        using var request = Json(ConformanceRoutes.Inspect, "\"x\"");
        request.Headers.TryAddWithoutValidation("Ipc-Header-greeting", encoded);
        request.Headers.TryAddWithoutValidation("Ipc-Correlation-Id", "corr-1");
        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var info = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("Grüße, 世界", info.RootElement.GetProperty("headers").GetProperty("greeting").GetString());
        Assert.Equal("corr-1", info.RootElement.GetProperty("correlationId").GetString());
    }

    private static HttpRequestMessage Json(string address, string route, string body) =>
        new(HttpMethod.Post, address + "/" + route) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    private HttpRequestMessage Json(string route, string body) => Json(_address, route, body);

    private static async Task<JsonElement> ReadErrorAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.GetProperty("error").Clone();
    }

    /// <summary>A body of zeros whose length the client cannot know, so it is sent chunked.</summary>
    private sealed class UnknownLengthStream(int length) : Stream
    {
        private int _left = length;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(count, _left);
            Array.Clear(buffer, offset, n);
            _left -= n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
