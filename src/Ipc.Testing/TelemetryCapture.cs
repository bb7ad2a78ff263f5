using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Collects what one conformance fact's calls emit: the Ipc spans of the trace it starts (other tests run in parallel,
/// so only this trace's spans count) and the duration histograms of the client's and the server's own containers.
/// </summary>
internal sealed class TelemetryCapture : IDisposable
{
    private readonly ActivitySource _source = new("Ipc.Testing.Telemetry");
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly SemaphoreSlim _spanStopped = new(0);
    private readonly List<IDisposable> _collectors = [];
    private readonly Activity _trace;

    public TelemetryCapture()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is IpcDiagnostics.ActivitySourceName or "Ipc.Testing.Telemetry",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == TraceId)
                {
                    _stopped.Enqueue(activity);
                    _spanStopped.Release();
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
        _trace = _source.StartActivity("conformance")!; // the calls that follow are its children, on this async flow
        TraceId = _trace.TraceId;
    }

    public ActivityTraceId TraceId { get; }

    /// <summary>Collects the histogram <paramref name="instrument"/> of the Ipc meter of <paramref name="services"/>' own <see cref="IMeterFactory"/>.</summary>
    public MetricCollector<double> Histogram(IServiceProvider services, string instrument)
    {
        var collector = new MetricCollector<double>(services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, instrument);
        _collectors.Add(collector);
        return collector;
    }

    /// <summary>Waits for <paramref name="count"/> spans of this trace with the kind and name given, and returns them.</summary>
    public async Task<IReadOnlyList<Activity>> SpansAsync(ActivityKind kind, string name, int count = 1)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            var found = _stopped.Where(a => a.Kind == kind && a.DisplayName == name).ToList();
            if (found.Count >= count)
            {
                return found;
            }

            try
            {
                await _spanStopped.WaitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                var seen = string.Join(", ", _stopped.Select(a => $"{a.Kind} '{a.DisplayName}'"));
                Assert.Fail($"Expected {count} {kind} span(s) named '{name}' in the call's trace within 15 s; saw: {(seen.Length == 0 ? "none" : seen)}.");
            }
        }
    }

    /// <summary>Waits for a span of this trace with the kind and name given, and returns it.</summary>
    public async Task<Activity> SpanAsync(ActivityKind kind, string name) => (await SpansAsync(kind, name)).Single();

    /// <summary>Waits for <paramref name="count"/> measurements of <paramref name="collector"/> and returns them.</summary>
    public static async Task<IReadOnlyList<CollectedMeasurement<double>>> MeasurementsAsync(MetricCollector<double> collector, int count = 1)
    {
        await collector.WaitForMeasurementsAsync(count, TimeSpan.FromSeconds(15));
        return collector.GetMeasurementSnapshot();
    }

    /// <summary>Asserts that the span has the tags given (a <see langword="null"/> value: the tag is set, to anything).</summary>
    public static void AssertTags(Activity span, params (string Key, object? Value)[] expected)
    {
        foreach (var (key, value) in expected)
        {
            var actual = span.GetTagItem(key);
            Assert.True(actual is not null, $"Span '{span.DisplayName}' ({span.Kind}) has no tag {key}.");
            if (value is not null)
            {
                Assert.True(Equals(value, actual), $"Span '{span.DisplayName}' ({span.Kind}) has {key}={actual}, expected {value}.");
            }
        }
    }

    /// <summary>Asserts that the measurement has the tags given (a <see langword="null"/> value: the tag is set, to anything).</summary>
    public static void AssertTags(CollectedMeasurement<double> measurement, string instrument, params (string Key, object? Value)[] expected)
    {
        Assert.True(measurement.Value >= 0, $"{instrument} recorded a negative duration.");
        foreach (var (key, value) in expected)
        {
            Assert.True(measurement.Tags.TryGetValue(key, out var actual), $"{instrument} has no tag {key}; it has {string.Join(", ", measurement.Tags.Keys)}.");
            if (value is not null)
            {
                Assert.True(Equals(value, actual), $"{instrument} has {key}={actual}, expected {value}.");
            }
        }
    }

    /// <summary>The tags of RPC spans and metrics (requests, streams); <see langword="null"/>: set, to anything.</summary>
    public static (string Key, object? Value)[] RpcTags(string endpoint, string route) =>
    [
        ("rpc.system", "ipc"),
        ("rpc.service", endpoint),
        ("rpc.method", route),
        ("server.address", null),
        ("network.transport", null),
    ];

    /// <summary>The tags of messaging spans and metrics (one-way and published messages).</summary>
    public static (string Key, object? Value)[] MessagingTags(string endpoint, string route, string operationType) =>
    [
        ("messaging.system", "ipc"),
        ("messaging.operation.type", operationType),
        ("messaging.destination.name", route),
        ("ipc.endpoint", endpoint),
        ("server.address", null),
        ("network.transport", null),
    ];

    public void Dispose()
    {
        _trace.Dispose();
        _listener.Dispose();
        _source.Dispose();
        foreach (var collector in _collectors)
        {
            collector.Dispose();
        }

        _spanStopped.Dispose();
    }
}
