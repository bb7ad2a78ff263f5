using System.Diagnostics;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Grpc.Tests;

/// <summary>The options of the gRPC transport away from their defaults, each seen from outside.</summary>
[Trait("Transport", "Grpc")]
public sealed class GrpcOptionsTests
{
    /// <summary>How long an unanswered keep-alive PING may take to end its connection, from when it was sent: with the 1 s the tests
    /// set it takes about 2 s here (each side looks at its pings once a second), with the default it would take 20 s.</summary>
    private static readonly TimeSpan PingTimeoutBound = TimeSpan.FromSeconds(10);

    /// <summary>
    /// With EnableMultipleHttp2Connections, a client whose calls reach the server's limit of streams per connection (one
    /// here) opens another connection: two calls held by the server at once come over two connections. Without it the
    /// second call waits for the first and comes over the same connection.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EnableMultipleHttp2Connections_CallsPastTheStreamLimitOpenAnotherConnectionOnlyWhenOn(bool multiple)
    {
        var address = $"grpc://127.0.0.1:{TestAddresses.FreePort()}";
        var peers = new System.Collections.Concurrent.ConcurrentBag<string>();
        var running = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddGrpc(o => o.MaxConcurrentCallsPerConnection = 1).AddEndpoint("held", address).AddServer("held", s => s.MapRequest<int, int>("hold", async (x, context, _) =>
        {
            peers.Add(context.RemoteAddress!);
            if (Interlocked.Increment(ref running) == 2)
            {
                gate.TrySetResult(); // both calls are here at once
            }

            await gate.Task;
            return x;
        }));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        try
        {
            var services = new ServiceCollection();
            services.AddIpc().AddGrpc(o => o.EnableMultipleHttp2Connections = multiple).AddEndpoint("held", address).ConfigureResilience("held", r => r.Enabled = false);
            await using var client = services.BuildServiceProvider();
            var requests = client.GetRequiredKeyedService<IRequestClient>("held");
            var first = requests.RequestAsync<int, int>("hold", 1).AsTask();
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            while (Volatile.Read(ref running) < 1)
            {
                await Task.Delay(10, bound.Token);
            }

            var second = requests.RequestAsync<int, int>("hold", 2).AsTask();
            if (!multiple)
            {
                // The second call waits for a stream of the one connection, which the first holds: let the first go.
                gate.TrySetResult();
            }

            var answers = await Task.WhenAll(first, second).WaitAsync(TestIpc.Bound);
            Assert.Equal([1, 2], answers);
            Assert.Equal(multiple ? 2 : 1, peers.Distinct().Count());
        }
        finally
        {
            gate.TrySetResult();
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    /// <summary>A client's connection that has been quiet for KeepAlivePingDelay (1 s here, its least) gets a keep-alive PING from the client; at the default of a minute it would not within the bound.</summary>
    [Fact]
    public async Task KeepAlivePingDelay_ClientPingsAQuietConnection()
    {
        await using var call = await CallThroughRelayAsync(client: KeepAlive);

        await call.Relay.Client.Pinged.Task.WaitAsync(TestIpc.Bound);
    }

    /// <summary>A server's connection that has been quiet for KeepAlivePingDelay (1 s here) gets a keep-alive PING from the server; Kestrel's own default sends none.</summary>
    [Fact]
    public async Task KeepAlivePingDelay_ServerPingsAQuietConnection()
    {
        await using var call = await CallThroughRelayAsync(server: KeepAlive);

        await call.Relay.Server.Pinged.Task.WaitAsync(TestIpc.Bound);
    }

    /// <summary>A client whose keep-alive PING goes unanswered closes the connection after KeepAlivePingTimeout (1 s here); at the default of 20 s it would not within the bound.</summary>
    [Fact]
    public async Task KeepAlivePingTimeout_ClientClosesAConnectionWhosePingGoesUnanswered()
    {
        await using var call = await CallThroughRelayAsync(client: KeepAlive, dropClientPings: true);

        await call.Relay.Client.Pinged.Task.WaitAsync(TestIpc.Bound);
        await call.Relay.Client.Ended.Task.WaitAsync(PingTimeoutBound);
    }

    /// <summary>A server whose keep-alive PING goes unanswered ends the connection (GOAWAY) after KeepAlivePingTimeout (1 s here); at the default of 20 s it would not within the bound.</summary>
    [Fact]
    public async Task KeepAlivePingTimeout_ServerEndsAConnectionWhosePingGoesUnanswered()
    {
        await using var call = await CallThroughRelayAsync(server: KeepAlive, dropServerPings: true);

        await call.Relay.Server.Pinged.Task.WaitAsync(TestIpc.Bound);
        await call.Relay.Server.Ended.Task.WaitAsync(PingTimeoutBound);
    }

    /// <summary>
    /// A stopping server on its own Kestrel waits ShutdownTimeout (100 ms here) for calls still under way, then aborts
    /// their connections. Handlers do not hold a stop (their callers get Unavailable at once, even when a handler ignores
    /// its token: a conformance fact), but a call whose request has not arrived whole does: here a client that sent a
    /// call's headers and holds its body.
    /// </summary>
    [Fact]
    public async Task ShutdownTimeout_BoundsHowLongAStopWaitsForACallStillArriving()
    {
        // Measured here: the stop takes 0.1 to 1.2 s with 100 ms (Kestrel aborts the connection at the timeout, then waits up
        // to a second more for it to close) and 5.0 s with the default of 5 s.
        var stopBound = TimeSpan.FromSeconds(3.5);
        var port = TestAddresses.FreePort();
        using var requests = new RequestStarts();
        var server = await TestIpc.StartServerAsync($"grpc://127.0.0.1:{port}", ipc =>
        {
            ipc.AddGrpc(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(100));
            ipc.Services.AddLogging(logging => logging.AddProvider(requests));
        });
        var body = new HeldContent();
        using var http = new HttpClient(new SocketsHttpHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/ipc.v1.IpcService/Request")
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = body,
        };
        request.Headers.TE.ParseAdd("trailers");
        var call = http.SendAsync(request);
        var stopped = false;
        try
        {
            await requests.Started.Task.WaitAsync(TestIpc.Bound); // the server has the call's headers; its body is held

            var stopwatch = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(TestIpc.Bound);

            Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, stopBound);
            stopped = true;
        }
        finally
        {
            body.Release.TrySetResult();
            server.Dispose();
            if (stopped)
            {
                await Assert.ThrowsAnyAsync<Exception>(() => call.WaitAsync(TestIpc.Bound)); // its connection was aborted
            }
        }
    }

    /// <summary>Notes when the server's Kestrel starts a request (ASP.NET Core's hosting log, event 1).</summary>
    private sealed class RequestStarts : ILoggerProvider, ILogger
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ILogger CreateLogger(string categoryName) => categoryName == "Microsoft.AspNetCore.Hosting.Diagnostics" ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 1)
            {
                Started.TrySetResult();
            }
        }

        public void Dispose()
        {
        }
    }

    /// <summary>A gRPC request body that is sent only once the test lets it go.</summary>
    private sealed class HeldContent : HttpContent
    {
        public HeldContent() => Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            // A message of one byte: its prefix (no compression flag, length 1) goes now, and with it the call's headers,
            // which the client may otherwise hold until the body's first bytes; the byte itself waits for Release.
            await stream.WriteAsync(new byte[] { 0, 0, 0, 0, 1 });
            await stream.FlushAsync();
            await Release.Task;
            await stream.WriteAsync(new byte[] { 0 });
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>Keep-alive pings at their least: after 1 s of quiet, and 1 s for the answer (not longer than the delay).</summary>
    private static void KeepAlive(GrpcTransportOptions options)
    {
        options.KeepAlivePingDelay = TimeSpan.FromSeconds(1);
        options.KeepAlivePingTimeout = TimeSpan.FromSeconds(1);
    }

    /// <summary>
    /// Starts a server and a client with the given options, the client calling through an <see cref="Http2Relay"/>, and
    /// makes a call, so that one connection is open and then quiet.
    /// </summary>
    private static async Task<RelayedCall> CallThroughRelayAsync(
        Action<GrpcTransportOptions>? server = null, Action<GrpcTransportOptions>? client = null, bool dropClientPings = false, bool dropServerPings = false)
    {
        var port = TestAddresses.FreePort();
        var host = await TestIpc.StartServerAsync($"grpc://127.0.0.1:{port}", ipc => ipc.AddGrpc(server ?? (_ => { })));
        var relay = new Http2Relay(port, dropClientPings, dropServerPings);
        var services = TestIpc.CreateClient(relay.Address, ipc => ipc.AddGrpc(client ?? (_ => { })).ConfigureResilience(r => r.Enabled = false));
        var call = new RelayedCall(host, relay, services);
        try
        {
            await TestIpc.AssertServesAsync(services);
            return call;
        }
        catch
        {
            await call.DisposeAsync();
            throw;
        }
    }

    /// <summary>A server, the relay and a client, which it stops and disposes in turn.</summary>
    private sealed class RelayedCall(IHost server, Http2Relay relay, ServiceProvider client) : IAsyncDisposable
    {
        public Http2Relay Relay => relay;

        public async ValueTask DisposeAsync()
        {
            await client.DisposeAsync();
            await relay.DisposeAsync();
            await server.StopAsync().WaitAsync(TestIpc.Bound);
            server.Dispose();
        }
    }
}
