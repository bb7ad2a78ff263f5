using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Http.Tests;

/// <summary>
/// A host that stops waits for the one-way messages its servers accepted (answered 202), for each endpoint's DrainTimeout
/// within the host's ShutdownTimeout: a server mapped into an app with <c>MapIpc</c> as one on its own Kestrel, and the
/// endpoints of one host all at once, each in its own DrainTimeout.
/// </summary>
public sealed class StopDrainTests
{
    /// <summary>The event the runtime logs as it begins to stop an endpoint (and so to wait for its queue).</summary>
    private const int EndpointStopping = 12;

    /// <summary>The event a stopping HTTP server logs for the accepted one-way messages its DrainTimeout left unhandled.</summary>
    private const int OneWayDropped = 1500;

    [Fact]
    public async Task MapIpc_AppStopsWithMessagesAccepted_HandlesThemBeforeStopAsyncReturns()
    {
        const int count = 5;
        var log = new EventLog();
        var probe = new ConformanceProbe();
        var (app, address) = await StartAppAsync(log, probe, e => e.DrainTimeout = TestIpc.Bound, time: null);
        await using (app)
        await using (var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false)))
        {
            var channel = client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint);
            await SendHeldThenNumbersAsync(channel, probe, count);

            var stopping = await StopWaitingForTheQueueAsync(app, log);

            probe.ReleaseHeld.TrySetResult(); // only now: the host waits for the queue, in order
            await stopping.WaitAsync(TestIpc.Bound);
            Assert.Equal(Enumerable.Range(0, count), probe.Numbers);
            Assert.DoesNotContain(log.Entries, e => e.EventId == OneWayDropped);
        }
    }

    [Fact]
    public async Task MapIpc_DrainTimeoutEndsFirst_TheRestIsReportedNotDeliveredBeforeStopAsyncReturns()
    {
        const int count = 4;
        var (log, probe) = await StopPastDrainTimeoutAsync(count);

        var dropped = Assert.Single(log.Entries, e => e.EventId == OneWayDropped);
        Assert.Equal(count - 1, dropped["Count"]);
        Assert.Empty(probe.Numbers);
    }

    /// <summary>
    /// The DrainTimeout ends while a one-way handler runs, and the handler ends on its cancelled token: its message, accepted
    /// and never handled, is reported not delivered (event 1504) as the ones still queued are (1500).
    /// </summary>
    [Fact]
    public async Task MapIpc_DrainTimeoutEndsWhileHandlerRuns_ItsMessageIsReportedNotDelivered()
    {
        const int OneWayHandlerCancelled = 1504;
        var (log, probe) = await StopPastDrainTimeoutAsync(count: 1);

        var cancelled = await log.WaitForAsync(e => e.EventId == OneWayHandlerCancelled).WaitAsync(TestIpc.Bound);
        Assert.Equal(ConformanceRoutes.Held, cancelled["Route"]);
        Assert.Equal(LogLevel.Warning, cancelled.Level);
        Assert.DoesNotContain(log.Entries, e => e.EventId == OneWayDropped); // nothing was left queued
        Assert.Empty(probe.Numbers);
    }

    /// <summary>
    /// Maps an app whose held one-way handler never ends (DrainTimeout 7 s on a fake clock), sends it that message and
    /// <paramref name="count"/> - 1 more, stops the app and lets the DrainTimeout pass: the held handler's token is
    /// cancelled, and it ends on it. Returns once the stop has completed.
    /// </summary>
    private static async Task<(EventLog Log, ConformanceProbe Probe)> StopPastDrainTimeoutAsync(int count)
    {
        var drain = TimeSpan.FromSeconds(7);
        var time = new TimerFakeTimeProvider();
        var log = new EventLog();
        var probe = new ConformanceProbe();
        var (app, address) = await StartAppAsync(log, probe, e => e.DrainTimeout = drain, time);
        await using (app)
        await using (var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false)))
        {
            await SendHeldThenNumbersAsync(client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint), probe, count);

            var stopping = await StopWaitingForTheQueueAsync(app, log);
            await time.WaitForTimerAsync(drain, TestIpc.Bound);
            Assert.False(stopping.IsCompleted); // the held handler never ends: the host waits until DrainTimeout
            time.Advance(drain);
            await stopping.WaitAsync(TestIpc.Bound);
        }

        return (log, probe);
    }

    /// <summary>
    /// A stream call whose body is still arriving as its MapIpc server begins to stop (Kestrel lets it finish), and whose
    /// producer has an item at once: the item is written before the flush sees the stop, so the stream goes on as one the
    /// stop ended (its item, then an Unavailable error), not as a 503 fault behind that item (a body longer than the fault's
    /// Content-Length, which Kestrel turned into 500 and an error in the log).
    /// </summary>
    [Fact]
    public async Task MapIpc_StreamBodyEndsAfterStopBegan_IsAnsweredUnavailable()
    {
        var log = new EventLog();
        var probe = new ConformanceProbe();
        var (app, address) = await StartAppAsync(log, probe, e => e.DrainTimeout = TestIpc.Bound, time: null);
        await using (app)
        await using (var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false)))
        using (var http = new HttpClient())
        {
            var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var content = new HeldBodyContent(" "u8.ToArray(), "7"u8.ToArray(), rest.Task);
            var call = http.PostAsync($"{address}/{ConformanceRoutes.HeldStream}", content).WaitAsync(TestIpc.Bound);
            await content.FirstPartSent.WaitAsync(TestIpc.Bound);

            var blocked = client.Requests().RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
            await probe.HandlerStarted.Task.WaitAsync(TestIpc.Bound);
            var stopping = app.StopAsync();
            await probe.HandlerCancelled.Task.WaitAsync(TestIpc.Bound); // the server is stopping: its handlers' tokens are cancelled
            rest.SetResult(); // only now: the producer's first item comes after the stop began

            using var response = await call;
            var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, $"{(int)response.StatusCode}: {string.Join('|', lines)}");
            Assert.Equal(2, lines.Length);
            Assert.Equal("""{"item":7}""", lines[0]);
            Assert.StartsWith("""{"error":{"code":"Unavailable","message":"The server of endpoint 'conformance' stopped during the stream.""", lines[1], StringComparison.Ordinal);
            Assert.Equal(IpcErrorCode.Unavailable, (await Assert.ThrowsAsync<IpcException>(() => blocked.WaitAsync(TestIpc.Bound))).ErrorCode);
            await stopping.WaitAsync(TestIpc.Bound);
            Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
        }
    }

    /// <summary>
    /// The host's ShutdownTimeout ends a MapIpc server's drain before its DrainTimeout: the held handler is cancelled, and
    /// the messages still queued are reported not delivered before StopAsync returns.
    /// </summary>
    [Fact]
    public async Task MapIpc_ShutdownTimeoutEndsFirst_TheRestIsReportedNotDelivered()
    {
        const int count = 3;
        var log = new EventLog();
        var probe = new ConformanceProbe();
        var (app, address) = await StartAppAsync(log, probe, e => e.DrainTimeout = TimeSpan.FromDays(1), time: null, shutdownTimeout: TimeSpan.FromSeconds(1));
        await using (app)
        await using (var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false)))
        {
            var channel = client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint);
            await SendHeldThenNumbersAsync(channel, probe, count);

            var stopped = await Record.ExceptionAsync(() => app.StopAsync().WaitAsync(TestIpc.Bound)); // the held handler never ends: the host's token ends the drain
            Assert.True(stopped is null or OperationCanceledException or AggregateException { InnerException: OperationCanceledException }, stopped?.ToString());

            var dropped = Assert.Single(log.Entries, e => e.EventId == OneWayDropped);
            Assert.Equal(count - 1, dropped["Count"]);
            Assert.Empty(probe.Numbers);
        }
    }

    /// <summary>
    /// Two endpoints of one host, each with a one-way handler held until both endpoints have begun to stop: stopped one
    /// after the other, the first would wait past the host's ShutdownTimeout (its drain needs the second's stop to begin);
    /// stopped together, each drain ends well within its own DrainTimeout and every accepted message is handled.
    /// </summary>
    [Fact]
    public async Task StopAsync_TwoEndpoints_DrainAtOnceEachWithinItsDrainTimeout()
    {
        const int count = 3;
        string[] names = ["first", "second"];
        var log = new EventLog();
        var probes = names.ToDictionary(n => n, _ => new ConformanceProbe());
        var addresses = names.ToDictionary(n => n, n => $"http://127.0.0.1:{TestAddresses.FreePort()}/{n}");
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(log).SetMinimumLevel(LogLevel.Debug);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2)); // less than the two drains one after the other
        var ipc = builder.Services.AddIpc();
        foreach (var name in names)
        {
            ipc.AddEndpoint(name, addresses[name], e => e.DrainTimeout = TestIpc.Bound).AddServer(name, s => s.MapConformanceRoutes(probes[name]));
        }

        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestIpc.Bound);

        var services = new ServiceCollection();
        var clients = services.AddIpc().ConfigureResilience(r => r.Enabled = false);
        foreach (var name in names)
        {
            clients.AddEndpoint(name, addresses[name]);
        }

        await using var client = services.BuildServiceProvider();
        foreach (var name in names)
        {
            var channel = client.GetRequiredKeyedService<IChannel>(name);
            await channel.SendAsync(ConformanceRoutes.Held, new Payload(BitConverter.GetBytes(0))).AsTask().WaitAsync(TestIpc.Bound);
            await probes[name].HeldStarted.Task.WaitAsync(TestIpc.Bound);
            for (var i = 1; i < count; i++)
            {
                await channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i)).AsTask().WaitAsync(TestIpc.Bound);
            }
        }

        var stopping = host.StopAsync();
        var draining = Task.WhenAll(names.Select(n => log.WaitForAsync(e => e.EventId == EndpointStopping && Equals(e["Endpoint"], n))));
        var first = await Task.WhenAny(stopping, draining).WaitAsync(TestIpc.Bound);
        Assert.True(first == draining, "The host stopped before both endpoints had begun to stop: their drains ran one after the other.");

        foreach (var probe in probes.Values)
        {
            probe.ReleaseHeld.TrySetResult();
        }

        await stopping.WaitAsync(TestIpc.Bound);
        Assert.All(probes.Values, p => Assert.Equal(Enumerable.Range(0, count), p.Numbers));
        Assert.DoesNotContain(log.Entries, e => e.EventId == OneWayDropped);
    }

    private static async Task<(WebApplication App, string Address)> StartAppAsync(EventLog log, ConformanceProbe probe, Action<IpcEndpointOptions> endpoint, TimeProvider? time, TimeSpan? shutdownTimeout = null)
    {
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}/calc";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders().AddProvider(log).SetMinimumLevel(LogLevel.Debug);
        if (shutdownTimeout is { } timeout)
        {
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = timeout);
        }

        if (time is not null)
        {
            builder.Services.AddSingleton(time); // the server's DrainTimeout runs on it
        }

        builder.Services.AddIpc()
            .AddEndpoint(TestIpc.Endpoint, address, endpoint)
            .AddServer(TestIpc.Endpoint, server => server.MapConformanceRoutes(probe));
        var app = builder.Build();
        app.MapIpc(TestIpc.Endpoint);
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        return (app, address);
    }

    /// <summary>Sends a one-way message its handler holds (202), waits until the handler runs, then <paramref name="count"/> - 1 numbered ones queued behind it.</summary>
    private static async Task SendHeldThenNumbersAsync(IChannel channel, ConformanceProbe probe, int count)
    {
        await channel.SendAsync(ConformanceRoutes.Held, new Payload(BitConverter.GetBytes(0))).AsTask().WaitAsync(TestIpc.Bound);
        await probe.HeldStarted.Task.WaitAsync(TestIpc.Bound);
        for (var i = 1; i < count; i++)
        {
            await channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i)).AsTask().WaitAsync(TestIpc.Bound);
        }
    }

    /// <summary>Begins the app's stop and checks that its host waits for the Ipc endpoint's queue (event 12) rather than stopping at once; returns the stop.</summary>
    private static async Task<Task> StopWaitingForTheQueueAsync(WebApplication app, EventLog log)
    {
        var stopping = app.StopAsync();
        var draining = log.WaitForAsync(e => e.EventId == EndpointStopping && Equals(e["Endpoint"], TestIpc.Endpoint));
        var first = await Task.WhenAny(stopping, draining).WaitAsync(TestIpc.Bound);
        Assert.True(first == draining, "The app's host stopped without waiting for the messages its Ipc server had accepted.");
        return stopping;
    }

    /// <summary>A JSON stream call's body sent in two parts, the second once <c>rest</c> completes.</summary>
    private sealed class HeldBodyContent : HttpContent
    {
        private readonly TaskCompletionSource _firstSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly byte[] _first;
        private readonly byte[] _second;
        private readonly Task _rest;

        public HeldBodyContent(byte[] first, byte[] second, Task rest)
        {
            (_first, _second, _rest) = (first, second, rest);
            Headers.ContentType = new("application/json");
        }

        public Task FirstPartSent => _firstSent.Task;

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(_first);
            await stream.FlushAsync();
            _firstSent.TrySetResult();
            await _rest;
            await stream.WriteAsync(_second);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _first.Length + _second.Length;
            return true;
        }
    }
}
