using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Ipc.Grpc.Protocol;
using Ipc.TestUtils;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Grpc.Tests;

/// <summary>
/// A program in another language: a client generated from the shipped ipc.proto alone (see the project file), with bodies
/// it encodes itself, calling an Ipc server on its own Kestrel.
/// </summary>
[Trait("Transport", "Grpc")]
public sealed class GeneratedClientTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TestIpc.Bound;
    private readonly int _port = TestAddresses.FreePort();
    private readonly TaskCompletionSource<IpcMessage> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _handlerCancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LevelLog _log = new();
    private IHost? _server;

    private readonly GrpcChannel _channel;

    public GeneratedClientTests() => _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{_port}");

    private IpcService.IpcServiceClient Client => new(_channel);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        if (_server is not null)
        {
            await _server.StopAsync();
            _server.Dispose();
        }
    }

    [Fact]
    public async Task Request_MessagePackBody_HandlerAnswersInMessagePack()
    {
        await StartServerAsync();

        #region generated-client
        // MessagePack's map of the request record's properties, as any MessagePack library writes it.
        var body = MessagePackSerializer.Serialize(new Dictionary<string, int> { ["A"] = 40, ["B"] = 2 });
        var client = new IpcService.IpcServiceClient(_channel); // generated from ipc.proto
        var reply = await client.RequestAsync(new IpcEnvelope { Route = "add", ContentType = "application/x-msgpack", Body = ByteString.CopyFrom(body) });
        #endregion

        Assert.Equal("add", reply.Route);
        Assert.Equal("application/x-msgpack", reply.ContentType);
        Assert.Equal(42, MessagePackSerializer.Deserialize<Dictionary<string, int>>(reply.Body.Memory)["Sum"]);
    }

    [Fact]
    public async Task Request_JsonBody_HandlerAnswersInJson()
    {
        await StartServerAsync(endpoint: e => e.Serializer = IpcOptions.JsonSerializer);

        var reply = await Client.RequestAsync(new IpcEnvelope { Route = "add", ContentType = "application/json", Body = ByteString.CopyFromUtf8("""{"a":40,"b":2}""") }).ResponseAsync.WaitAsync(Bound);

        Assert.Equal("application/json", reply.ContentType);
        using var json = JsonDocument.Parse(reply.Body.ToStringUtf8());
        Assert.Equal(42, json.RootElement.GetProperty("sum").GetInt32());
    }

    [Fact]
    public async Task Request_IdsAndHeaders_ReachHandlerAsSent()
    {
        await StartServerAsync();
        var headers = new Metadata { { "tenant", "acme" }, { "greeting-bin", Encoding.UTF8.GetBytes("grüß dich") } };
        var envelope = new IpcEnvelope { Route = "inspect", MessageId = "m-1", CorrelationId = "c-1", ContentType = "application/x-msgpack", Body = ByteString.CopyFrom(MessagePackSerializer.Serialize("x")) };
        envelope.Headers["Not A Metadata Key"] = "carried in the map";

        var reply = await Client.RequestAsync(envelope, headers).ResponseAsync.WaitAsync(Bound);

        var received = await _received.Task.WaitAsync(Bound);
        Assert.Equal("m-1", received.MessageId);
        Assert.Equal("c-1", received.CorrelationId);
        Assert.Equal("acme", received.Headers["tenant"]);
        Assert.Equal("grüß dich", received.Headers["greeting"]);
        Assert.Equal("carried in the map", received.Headers["Not A Metadata Key"]);
        Assert.Equal("m-1", reply.MessageId);
        Assert.Equal("c-1", reply.CorrelationId);
        Assert.Equal("seen", reply.Headers["inspected"]);
    }

    [Fact]
    public async Task Request_Deadline_ReachesHandlerAndCancelsItsToken()
    {
        await StartServerAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => Client.RequestAsync(Text("wait", "x"), deadline: DateTime.UtcNow.AddMilliseconds(500)).ResponseAsync.WaitAsync(Bound));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        var received = await _received.Task.WaitAsync(Bound);
        Assert.NotNull(received.Timeout);
        Assert.InRange(received.Timeout.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(500));
        await _handlerCancelled.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task Request_UnknownRoute_UnimplementedWithRichStatusNamingNoHandler()
    {
        await StartServerAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => Client.RequestAsync(Text("nowhere", "x")).ResponseAsync.WaitAsync(Bound));

        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        var info = Assert.Single(RichStatus(ex).Details.Select(d => d.Unpack<ErrorInfo>()));
        Assert.Equal(("ipc", "NO_HANDLER"), (info.Domain, info.Reason));
        Assert.Contains("nowhere", RichStatus(ex).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_HandlerFailsWithCode_RichStatusCarriesCodeMessageAndDetails()
    {
        await StartServerAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => Client.RequestAsync(Text("refuse", "x")).ResponseAsync.WaitAsync(Bound));

        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        var status = RichStatus(ex);
        Assert.Equal("user 7 is not known", status.Message);
        var infos = status.Details.Select(d => d.Unpack<ErrorInfo>()).ToList();
        Assert.Contains(infos, i => i.Domain == "ipc" && i.Reason == "REMOTE_ERROR");
        var remote = Assert.Single(infos, i => i.Domain == "ipc.remote");
        Assert.Equal("USER_NOT_FOUND", remote.Reason);
        Assert.Equal("7", remote.Metadata["userId"]);
    }

    [Fact]
    public async Task Send_OneWayMessage_HandlerRuns()
    {
        await StartServerAsync();

        await Client.SendAsync(Text("note", "hello")).ResponseAsync.WaitAsync(Bound);

        Assert.Equal("note", (await _received.Task.WaitAsync(Bound)).Route);
    }

    [Fact]
    public async Task Stream_ItemsArriveInOrder()
    {
        await StartServerAsync();
        using var call = Client.Stream(new IpcEnvelope { Route = "count", ContentType = "application/x-msgpack", Body = ByteString.CopyFrom(MessagePackSerializer.Serialize(5)) });

        var items = new List<int>();
        await foreach (var item in call.ResponseStream.ReadAllAsync().WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            items.Add(MessagePackSerializer.Deserialize<int>(item.Body.Memory));
        }

        Assert.Equal([0, 1, 2, 3, 4], items);
    }

    [Fact]
    public async Task HealthCheck_AppChecksHealthy_Serving()
    {
        await StartServerAsync(health: HealthCheckResult.Healthy());

        var reply = await new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest()).ResponseAsync.WaitAsync(Bound);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task HealthCheck_AppCheckUnhealthy_NotServing()
    {
        await StartServerAsync(health: HealthCheckResult.Unhealthy("the database is down"));

        var health = new Health.HealthClient(_channel);
        var server = await health.CheckAsync(new HealthCheckRequest()).ResponseAsync.WaitAsync(Bound);
        var service = await health.CheckAsync(new HealthCheckRequest { Service = "ipc.v1.IpcService" }).ResponseAsync.WaitAsync(Bound);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, server.Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, service.Status);
    }

    [Fact]
    public async Task Reflection_ListServices_ShowsTheEnvelopeAndHealthServices()
    {
        await StartServerAsync();
        using var call = new ServerReflection.ServerReflectionClient(_channel).ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = string.Empty });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(new CancellationTokenSource(Bound).Token));

        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("ipc.v1.IpcService", services);
        Assert.Contains("grpc.health.v1.Health", services);
    }

    [Fact]
    public async Task HealthServiceAndReflectionTurnedOff_NeitherIsServed()
    {
        await StartServerAsync(health: HealthCheckResult.Healthy(), grpc: o =>
        {
            o.EnableHealthService = false;
            o.EnableReflection = false;
        });

        var health = await Assert.ThrowsAsync<RpcException>(() => new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest()).ResponseAsync.WaitAsync(Bound));
        using var call = new ServerReflection.ServerReflectionClient(_channel).ServerReflectionInfo();
        try
        {
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = string.Empty });
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server may answer before the request is written (it reads none of it): its answer, read below, is what counts.
        }

        var reflection = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(new CancellationTokenSource(Bound).Token));

        Assert.Equal(StatusCode.Unimplemented, health.StatusCode);
        Assert.Equal(StatusCode.Unimplemented, reflection.StatusCode);
        var reply = await Client.RequestAsync(new IpcEnvelope { Route = "add", ContentType = "application/x-msgpack", Body = ByteString.CopyFrom(MessagePackSerializer.Serialize(new Dictionary<string, int> { ["A"] = 40, ["B"] = 2 })) }).ResponseAsync.WaitAsync(Bound);
        Assert.Equal(42, MessagePackSerializer.Deserialize<Dictionary<string, int>>(reply.Body.Memory)["Sum"]);
    }

    [Fact]
    public async Task MaxConcurrentCallsPerConnection_IsTheStreamLimitTheServerAnnounces()
    {
        await StartServerAsync(grpc: o => o.MaxConcurrentCallsPerConnection = 7);

        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync("127.0.0.1", _port);
        var settings = await Http2Frames.HandshakeAsync(socket.GetStream()).WaitAsync(Bound);

        var announced = Enumerable.Range(0, settings.Length / 6)
            .ToDictionary(i => (settings[i * 6] << 8) | settings[(i * 6) + 1], i => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(settings.AsSpan((i * 6) + 2)));
        Assert.Equal(7u, announced[3]); // SETTINGS_MAX_CONCURRENT_STREAMS
    }

    /// <summary>
    /// Envelopes whose bytes protobuf refuses, as a client written by hand or in a language whose strings are bytes may send:
    /// a string field that is not UTF-8 (the route, the message id, a header value of the map), and a field cut short.
    /// </summary>
    public static TheoryData<string, byte[], string> UnreadableEnvelopes => new()
    {
        { "Request", [0x0a, 2, 0xff, 0xfe], "UTF-8" }, // route: two bytes that are not UTF-8
        { "Send", [0x0a, 4, (byte)'n', (byte)'o', (byte)'t', (byte)'e', 0x12, 2, 0xc3, 0x28], "UTF-8" }, // message_id
        { "Stream", [0x0a, 5, (byte)'c', (byte)'o', (byte)'u', (byte)'n', (byte)'t', 0x2a, 6, 0x0a, 1, (byte)'k', 0x12, 1, 0x80], "UTF-8" }, // headers["k"]
        { "Request", [0x0a, 10, (byte)'a', (byte)'d'], "ipc.proto" }, // a route of 10 bytes, 2 there
    };

    [Theory]
    [MemberData(nameof(UnreadableEnvelopes))]
    public async Task Call_EnvelopeProtobufCannotParse_InvalidArgumentSayingWhyAndNoErrorLogged(string method, byte[] envelope, string hint)
    {
        await StartServerAsync();
        var bytes = Marshallers.Create<byte[]>(b => b, b => b);
        var invoker = _channel.CreateCallInvoker();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            if (method == "Stream")
            {
                using var call = invoker.AsyncServerStreamingCall(new Method<byte[], byte[]>(MethodType.ServerStreaming, "ipc.v1.IpcService", method, bytes, bytes), null, default, envelope);
                await call.ResponseStream.MoveNext(new CancellationTokenSource(Bound).Token);
            }
            else
            {
                using var call = invoker.AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, "ipc.v1.IpcService", method, bytes, bytes), null, default, envelope);
                await call.ResponseAsync.WaitAsync(Bound);
            }
        });

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.StartsWith("The request is not a valid ipc.v1.IpcEnvelope: ", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(hint, ex.Status.Detail, StringComparison.Ordinal);
        var info = Assert.Single(RichStatus(ex).Details.Select(d => d.Unpack<ErrorInfo>()));
        Assert.Equal(("ipc", "SERIALIZATION"), (info.Domain, info.Reason));
        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Warning);

        // The connection and the server are fine: the caller's next, well-formed call is answered.
        var reply = await Client.RequestAsync(Text("inspect", "again")).ResponseAsync.WaitAsync(Bound);
        Assert.Equal("again", MessagePackSerializer.Deserialize<string>(reply.Body.Memory));
    }

    private static IpcEnvelope Text(string route, string text) =>
        new() { Route = route, ContentType = "application/x-msgpack", Body = ByteString.CopyFrom(MessagePackSerializer.Serialize(text)) };

    private static Google.Rpc.Status RichStatus(RpcException ex) =>
        Google.Rpc.Status.Parser.ParseFrom(ex.Trailers.GetValueBytes("grpc-status-details-bin") ?? throw new Xunit.Sdk.XunitException("no grpc-status-details-bin trailer"));

    private async Task StartServerAsync(Action<IpcEndpointOptions>? endpoint = null, HealthCheckResult? health = null, Action<GrpcTransportOptions>? grpc = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(_log);
        if (health is { } result)
        {
            builder.Services.AddHealthChecks().AddCheck("app", () => result);
        }

        builder.Services.AddIpc()
            .AddGrpc(grpc ?? (_ => { }))
            .AddEndpoint("calculator", $"grpc://127.0.0.1:{_port}", endpoint)
            .AddServer("calculator", server => server
                .MapRequest<Ipc.Testing.AddRequest, Ipc.Testing.AddResponse>("add", r => new Ipc.Testing.AddResponse(r.A + r.B))
                .MapRequest<string, string>("inspect", (text, context, _) =>
                {
                    _received.TrySetResult(context.Message);
                    context.ResponseHeaders["inspected"] = "seen";
                    return new ValueTask<string>(text);
                })
                .MapRequest<string, string>("wait", async (text, context, cancellationToken) =>
                {
                    _received.TrySetResult(context.Message);
                    try
                    {
                        await Task.Delay(Timeout.Infinite, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        _handlerCancelled.TrySetResult();
                        throw;
                    }

                    return text;
                })
                .MapRequest<string, string>("refuse", _ => throw new IpcHandlerException("USER_NOT_FOUND", "user 7 is not known", new Dictionary<string, string> { ["userId"] = "7" }))
                .MapMessage<string>("note", (_, context, _) =>
                {
                    _received.TrySetResult(context.Message);
                    return default;
                })
                .MapStream<int, int>("count", (count, _, _) => Enumerable.Range(0, count).ToAsyncEnumerable()));
        _server = builder.Build();
        await _server.StartAsync().WaitAsync(Bound);
    }

    /// <summary>Keeps the level, category and text of everything the server logs.</summary>
    private sealed class LevelLog : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Category, string Text)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<(LogLevel, string, string)> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue((logLevel, category, formatter(state, exception)));
        }
    }
}
