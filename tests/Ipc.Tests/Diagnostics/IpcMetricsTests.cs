using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Ipc.Tests.Diagnostics;

public sealed class IpcMetricsTests
{
    [Fact]
    public async Task RequestAsync_WhileListened_RecordsClientAndServerDurationTaggedWithEndpoint()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var recorded = new ConcurrentQueue<(string Instrument, double Seconds)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Ipc" && instrument.Name is "ipc.client.request.duration" or "ipc.server.request.duration")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "rpc.service" && Equals(tag.Value, endpoint))
                {
                    recorded.Enqueue((instrument.Name, value)); // other tests' calls run in parallel: keep only this endpoint's
                }
            }
        });
        listener.Start();
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s.MapRequest<int, int>("double", n => n * 2)));
        await using var client = TestSupport.Client(endpoint, address);

        Assert.Equal(42, await client.GetRequiredKeyedService<IRequestClient>(endpoint).RequestAsync<int, int>("double", 21).AsTask().WaitAsync(TestSupport.Bound));

        Assert.Contains(recorded, m => m.Instrument == "ipc.client.request.duration" && m.Seconds > 0);
        Assert.Contains(recorded, m => m.Instrument == "ipc.server.request.duration" && m.Seconds > 0);
    }

    /// <summary>
    /// The routes a server's metrics and span names carry are the routes it maps, and _OTHER for any other a peer sends:
    /// a peer that calls made-up routes must not add a metric series (or a span name) per route. The client's side, whose
    /// routes are the app's own, keeps them; the server span keeps the route sent in rpc.method_original.
    /// </summary>
    [Fact]
    public async Task Server_RoutesItDoesNotMap_AreTaggedOtherInMetricsAndSpanNames()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var measured = new ConcurrentQueue<(string Instrument, string? Route)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Ipc" && instrument.Name.StartsWith("ipc.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Measured(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? service = null, route = null;
            foreach (var tag in tags)
            {
                service = tag.Key is "rpc.service" or "ipc.endpoint" ? tag.Value as string : service;
                route = tag.Key is "rpc.method" or "messaging.destination.name" ? tag.Value as string : route;
            }

            if (service == endpoint)
            {
                measured.Enqueue((instrument.Name, route)); // other tests' calls run in parallel: keep only this endpoint's
            }
        }

        meters.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Measured(instrument, tags));
        meters.SetMeasurementEventCallback<long>((instrument, _, tags, _) => Measured(instrument, tags));
        meters.Start();
        var spans = new ConcurrentQueue<Activity>();
        var fourRequestSpans = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var tracing = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Ipc",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.Kind == ActivityKind.Server && Equals(activity.GetTagItem("rpc.service"), endpoint))
                {
                    spans.Enqueue(activity);
                    if (spans.Count == 4)
                    {
                        fourRequestSpans.TrySetResult(); // a server span stops once its call's metrics are recorded
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(tracing);
        var address = TestSupport.NewAddress();
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s
            .MapRequest<int, int>("double", n => n * 2)
            .MapMessage<int>("note", (_, _, _) =>
            {
                handled.TrySetResult();
                return default;
            })));
        await using var client = TestSupport.Client(endpoint, address);
        var requests = client.GetRequiredKeyedService<IRequestClient>(endpoint);

        Assert.Equal(42, await requests.RequestAsync<int, int>("double", 21).AsTask().WaitAsync(TestSupport.Bound));
        foreach (var madeUp in new[] { "made-up-1", "made-up-2", "made-up-3" })
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<int, int>(madeUp, 1).AsTask().WaitAsync(TestSupport.Bound));
            Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
        }

        await client.GetRequiredKeyedService<IChannel>(endpoint).SendAsync("note", 1).AsTask().WaitAsync(TestSupport.Bound);
        await handled.Task.WaitAsync(TestSupport.Bound);
        await fourRequestSpans.Task.WaitAsync(TestSupport.Bound);

        var served = measured.Where(m => m.Instrument.StartsWith("ipc.server.", StringComparison.Ordinal)).ToList();
        Assert.Contains(served, m => m.Instrument == "ipc.server.request.duration" && m.Route == "_OTHER");
        Assert.Contains(served, m => m.Instrument == "ipc.server.received.messages" && m.Route == "_OTHER");
        Assert.Equal(["_OTHER", "double", "note"], served.Select(m => m.Route).Distinct().Order(StringComparer.Ordinal));
        Assert.Contains(measured, m => m.Instrument == "ipc.client.request.duration" && m.Route == "made-up-2");

        var madeUpSpans = spans.Where(a => a.DisplayName == $"{endpoint}/_OTHER").ToList();
        Assert.Equal(["made-up-1", "made-up-2", "made-up-3"], madeUpSpans.Select(a => a.GetTagItem("rpc.method_original") as string).Order(StringComparer.Ordinal));
        Assert.All(madeUpSpans, a => Assert.Equal("_OTHER", a.GetTagItem("rpc.method")));
        Assert.Contains(spans, a => a.DisplayName == $"{endpoint}/double" && a.GetTagItem("rpc.method_original") is null);
    }

    /// <summary>
    /// ipc.server.message.failed counts a one-way message whose handler failed (the dispatcher) and one the server
    /// stopped before handling (the transport): both carry the tags of the server's other messaging metrics, so one
    /// query groups them by address and transport.
    /// </summary>
    [Fact]
    public async Task MessageFailed_HandlerFailedOrServerStopped_BothCarryTheServersMessagingTags()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var address = TestSupport.NewAddress();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s
            .MapMessage<int>("fail", (_, _, _) => throw new InvalidOperationException("boom"))
            .MapMessage<int>("hold", async (_, _, cancellationToken) =>
            {
                holding.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            })
            .MapMessage<int>("queued", (_, _, _) => default)));
        using var failed = new MetricCollector<long>(server.Services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.server.message.failed");
        await using var client = TestSupport.Client(endpoint, address);
        var channel = client.GetRequiredKeyedService<IChannel>(endpoint);

        await channel.SendAsync("fail", 1).AsTask().WaitAsync(TestSupport.Bound);
        await failed.WaitForMeasurementsAsync(1, TestSupport.Bound);
        await channel.SendAsync("hold", 2).AsTask().WaitAsync(TestSupport.Bound);
        await holding.Task.WaitAsync(TestSupport.Bound);
        await channel.SendAsync("queued", 3).AsTask().WaitAsync(TestSupport.Bound); // waits behind "hold" until the server stops
        await server.StopAsync().WaitAsync(TestSupport.Bound);
        await failed.WaitForMeasurementsAsync(2, TestSupport.Bound);

        var measurements = failed.GetMeasurementSnapshot();
        var byHandler = Assert.Single(measurements, m => Equals(m.Tags["messaging.destination.name"], "fail"));
        var byStop = Assert.Single(measurements, m => Equals(m.Tags["messaging.destination.name"], "queued"));
        var expected = new Dictionary<string, object?>
        {
            ["messaging.system"] = "ipc",
            ["messaging.operation.type"] = "process",
            ["messaging.operation.name"] = "process",
            ["ipc.endpoint"] = endpoint,
            ["server.address"] = address["inmemory://".Length..],
            ["network.transport"] = "inproc",
        };
        Assert.Equal(expected.Append(new("messaging.destination.name", "fail")).OrderBy(t => t.Key, StringComparer.Ordinal), byHandler.Tags.OrderBy(t => t.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Append(new("messaging.destination.name", "queued")).OrderBy(t => t.Key, StringComparer.Ordinal), byStop.Tags.OrderBy(t => t.Key, StringComparer.Ordinal));
    }

    /// <summary>
    /// A one-way message to a route the server does not map gets a server span named process _OTHER, with the route the
    /// caller sent in ipc.route_original, the message's ids, and error.type NoHandler.
    /// </summary>
    [Fact]
    public async Task SendAsync_RouteTheServerDoesNotMap_ServerSpanIsProcessOtherWithTheRouteSent()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var span = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var tracing = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Ipc",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.Kind == ActivityKind.Consumer && Equals(activity.GetTagItem("ipc.endpoint"), endpoint))
                {
                    span.TrySetResult(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(tracing);
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s.MapMessage<int>("note", (_, _, _) => default)));
        await using var client = TestSupport.Client(endpoint, address);
        var channel = client.GetRequiredKeyedService<IChannel>(endpoint);

        await channel.SendAsync("made-up", 1, new IpcCallOptions { CorrelationId = "conversation-1" }).AsTask().WaitAsync(TestSupport.Bound); // accepted: the server finds no route when it handles it

        var process = await span.Task.WaitAsync(TestSupport.Bound);
        Assert.Equal("process _OTHER", process.DisplayName);
        Assert.Equal("_OTHER", process.GetTagItem("messaging.destination.name"));
        Assert.Equal("made-up", process.GetTagItem("ipc.route_original"));
        Assert.Equal("process", process.GetTagItem("messaging.operation.type"));
        Assert.Equal("conversation-1", process.GetTagItem("messaging.message.conversation_id"));
        Assert.False(string.IsNullOrEmpty(process.GetTagItem("messaging.message.id") as string));
        Assert.Equal(nameof(IpcErrorCode.NoHandler), process.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, process.Status);
    }

    /// <summary>
    /// The message and byte counters: the client counts the request, the stream's request and the one-way message it
    /// sent and the response and stream items it received; the server counts the same messages from its side, with the
    /// same body bytes.
    /// </summary>
    [Fact]
    public async Task Counters_RequestStreamAndOneWay_CountMessagesAndBodyBytesOnBothSides()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var address = TestSupport.NewAddress();
        var noted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s
            .MapRequest<string, string>("echo", text => text + text)
            .MapStream<int, int>("count", (n, _, _) => Enumerable.Range(1, n).ToAsyncEnumerable())
            .MapMessage<string>("note", (_, _, _) =>
            {
                noted.TrySetResult();
                return default;
            })));
        await using var client = TestSupport.Client(endpoint, address);
        static MetricCollector<long> Collect(IServiceProvider services, string name) => new(services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, name);
        using var clientSent = Collect(client, "ipc.client.sent.messages");
        using var clientSentBytes = Collect(client, "ipc.client.sent.bytes");
        using var clientReceived = Collect(client, "ipc.client.received.messages");
        using var clientReceivedBytes = Collect(client, "ipc.client.received.bytes");
        using var serverReceived = Collect(server.Services, "ipc.server.received.messages");
        using var serverReceivedBytes = Collect(server.Services, "ipc.server.received.bytes");
        using var serverSent = Collect(server.Services, "ipc.server.sent.messages");
        using var serverSentBytes = Collect(server.Services, "ipc.server.sent.bytes");

        Assert.Equal("abab", await client.GetRequiredKeyedService<IRequestClient>(endpoint).RequestAsync<string, string>("echo", "ab").AsTask().WaitAsync(TestSupport.Bound));
        Assert.Equal([1, 2, 3], await client.GetRequiredKeyedService<IRequestClient>(endpoint).StreamAsync<int, int>("count", 3).ToListAsync().AsTask().WaitAsync(TestSupport.Bound));
        await client.GetRequiredKeyedService<IChannel>(endpoint).SendAsync("note", "hello").AsTask().WaitAsync(TestSupport.Bound);
        await noted.Task.WaitAsync(TestSupport.Bound);

        static long Sum(MetricCollector<long> collector) => collector.GetMeasurementSnapshot().Sum(m => m.Value);
        Assert.Equal(["echo", "count", "note"], clientSent.GetMeasurementSnapshot().Select(m => (string?)(m.Tags.GetValueOrDefault("rpc.method") ?? m.Tags["messaging.destination.name"])));
        Assert.Equal(3, Sum(clientSent));
        Assert.Equal(3, Sum(serverReceived));
        Assert.Equal(4, Sum(clientReceived)); // the response and three stream items
        Assert.Equal(4, Sum(serverSent));
        Assert.True(Sum(clientSentBytes) > 0);
        Assert.Equal(Sum(clientSentBytes), Sum(serverReceivedBytes));
        Assert.True(Sum(serverSentBytes) > 0);
        Assert.Equal(Sum(serverSentBytes), Sum(clientReceivedBytes));
    }

    /// <summary>A call its caller cancels is tagged error.type System.OperationCanceledException on its span and its duration.</summary>
    [Fact]
    public async Task RequestAsync_CallerCancels_ErrorTypeIsOperationCanceledException()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var span = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var tracing = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Ipc",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.Kind == ActivityKind.Client && Equals(activity.GetTagItem("rpc.service"), endpoint))
                {
                    span.TrySetResult(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(tracing);
        var address = TestSupport.NewAddress();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s
            .MapRequest<int, int>("wait", async (n, _, cancellationToken) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return n;
            })));
        await using var client = TestSupport.Client(endpoint, address);
        using var durations = new MetricCollector<double>(client.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.client.request.duration");
        using var cancellation = new CancellationTokenSource();

        var call = client.GetRequiredKeyedService<IRequestClient>(endpoint).RequestAsync<int, int>("wait", 1, cancellationToken: cancellation.Token).AsTask();
        await started.Task.WaitAsync(TestSupport.Bound);
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TestSupport.Bound));

        var failed = await span.Task.WaitAsync(TestSupport.Bound);
        Assert.Equal("System.OperationCanceledException", failed.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal("System.OperationCanceledException", Assert.Single(durations.GetMeasurementSnapshot()).Tags["error.type"]);
    }
}
