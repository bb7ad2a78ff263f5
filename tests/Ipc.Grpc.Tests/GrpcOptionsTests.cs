using System.Diagnostics;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Grpc.Tests;

/// <summary>The options of the gRPC transport away from their defaults, each seen from outside.</summary>
[Trait("Transport", "Grpc")]
public sealed class GrpcOptionsTests
{
    /// <summary>How long an unanswered keep-alive PING may take to end its connection, from when it was sent: with the 1 s the tests
    /// set it takes about 2 s here (each side looks at its pings once a second), with the default it would take 20 s.</summary>
    private static readonly TimeSpan PingTimeoutBound = TimeSpan.FromSeconds(10);

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
    /// A stopping server waits ShutdownTimeout (100 ms here) for a handler that ignores its cancellation, and then aborts the
    /// connection. A stream's handler holds the stop that way (the service waits for its next item); a request's does not: its
    /// caller gets Unavailable as soon as the server stops, as documented.
    /// </summary>
    [Fact]
    public async Task ShutdownTimeout_BoundsHowLongAStopWaitsForAHandlerThatIgnoresItsToken()
    {
        // Measured here: the stop takes 1.1 to 1.8 s with 100 ms (Kestrel aborts the connection at the timeout, then waits up
        // to a second more for it to close), 6 to 6.5 s with the default of 5 s, and past 15 s with the option not passed to
        // the transport's Kestrel (the host's own default is 30 s).
        var stopBound = TimeSpan.FromSeconds(3.5);
        var address = $"grpc://127.0.0.1:{TestAddresses.FreePort()}";
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requestStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var streamStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async IAsyncEnumerable<int> HoldAsync(int item)
        {
            streamStarted.TrySetResult();
            await gate.Task;
            yield return item;
        }

        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddGrpc(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(100)).AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, s => s
            .MapRequest<int, int>("hold", async (x, _, _) =>
            {
                requestStarted.TrySetResult();
                await gate.Task;
                return x;
            })
            .MapStream<int, int>("hold-stream", (x, _, _) => HoldAsync(x)));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        try
        {
            await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
            var request = client.Requests().RequestAsync<int, int>("hold", 1).AsTask();
            _ = client.Requests().StreamAsync<int, int>("hold-stream", 2).ToListAsync().AsTask(); // ends when the stop aborts the connection
            await Task.WhenAll(requestStarted.Task, streamStarted.Task).WaitAsync(TestIpc.Bound);

            var stopwatch = Stopwatch.StartNew();
            var stopping = server.StopAsync();
            var ex = await Assert.ThrowsAsync<IpcException>(() => request.WaitAsync(TestIpc.Bound));
            await stopping.WaitAsync(TestIpc.Bound);

            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
            Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, stopBound);
        }
        finally
        {
            gate.TrySetResult();
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
