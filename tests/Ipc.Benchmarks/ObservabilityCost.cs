using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Ipc.Benchmarks;

/// <summary>
/// What telemetry costs, measured in alternating blocks so both sides of each ratio run under the same load.
/// <c>nobody</c>: each row's calls with nothing listening, with the raw baseline of the stream transport for a ratio
/// that holds across builds (run a build before a change and after it alternately, and compare).
/// <c>everything</c>: blocks with nothing listening against blocks with an <see cref="ActivityListener"/> that records
/// every Ipc span and a <see cref="MeterListener"/> that takes every Ipc measurement.
/// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- observability nobody|everything</c>
/// </summary>
internal static class ObservabilityCost
{
    private const int Blocks = 30;

    public static async Task RunAsync(TextWriter output, string mode)
    {
        var everything = mode == "everything";
        output.WriteLine(everything
            ? "| Row | nothing listens (median of blocks) | everything listens (median of blocks) | Ratio: median (p25 to p75) | fastest blocks |"
            : "| Row | Ipc (median of blocks) | raw (median of blocks) | Ipc/raw: median (p25 to p75) | fastest Ipc block |");
        output.WriteLine("| --- | ---: | ---: | ---: | ---: |");

        var memory = new InMemoryBenchmarks();
        await memory.SetupAsync();
        try
        {
            await RowAsync(output, "InMemory request", 2_000, async () => await memory.RequestAsync(), () => { memory.Raw(); return Task.CompletedTask; }, everything);
            await RowAsync(output, "InMemory send", 2_000, async () => await memory.SendAsync(), () => { memory.Raw(); return Task.CompletedTask; }, everything);
        }
        finally
        {
            await memory.CleanupAsync();
        }

        var socket = new UnixSocketBenchmarks();
        await socket.SetupAsync();
        try
        {
            await RowAsync(output, "UnixSocket request", 300, socket.RequestAsync, socket.RawRequestAsync, everything);
        }
        finally
        {
            await socket.CleanupAsync();
        }
    }

    private static async Task RowAsync(TextWriter output, string row, int blockSize, Func<Task> call, Func<Task> raw, bool everything)
    {
        var warmUp = Stopwatch.StartNew();
        for (var i = 0; i < blockSize * 4 || warmUp.Elapsed < TimeSpan.FromSeconds(2); i++)
        {
            await call();
            await raw();
        }

        var first = new List<double>();
        var second = new List<double>();
        var ratios = new List<double>();
        for (var block = 0; block < Blocks; block++)
        {
            var plain = await BlockAsync(blockSize, call);
            double other;
            if (everything)
            {
                using var listening = new Listening();
                other = await BlockAsync(blockSize, call);
            }
            else
            {
                other = await BlockAsync(blockSize, raw);
            }

            first.Add(plain);
            second.Add(other);
            ratios.Add(everything ? other / plain : plain / other);
        }

        first.Sort();
        second.Sort();
        ratios.Sort();
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {row} | {first[Blocks / 2]:F2} us | {second[Blocks / 2]:F2} us | {ratios[Blocks / 2]:F2} ({ratios[Blocks / 4]:F2} to {ratios[3 * Blocks / 4]:F2}) | {(everything ? $"{first[0]:F2} us, {second[0]:F2} us" : $"{first[0]:F2} us")} |"));
    }

    private static async Task<double> BlockAsync(int size, Func<Task> call)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < size; i++)
        {
            await call();
        }

        return watch.Elapsed.TotalMicroseconds / size;
    }

    /// <summary>Everything listening: every Ipc span recorded, every Ipc measurement taken.</summary>
    private sealed class Listening : IDisposable
    {
        private readonly ActivityListener _activities;
        private readonly MeterListener _meters;
        private long _spans;
        private double _sum;

        public Listening()
        {
            _activities = new ActivityListener
            {
                ShouldListenTo = s => s.Name == "Ipc",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _ => Interlocked.Increment(ref _spans),
            };
            ActivitySource.AddActivityListener(_activities);
            _meters = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == "Ipc")
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _meters.SetMeasurementEventCallback<double>((_, value, tags, _) => _sum += value + tags.Length);
            _meters.SetMeasurementEventCallback<long>((_, value, tags, _) => _sum += value + tags.Length);
            _meters.Start();
        }

        public void Dispose()
        {
            _meters.Dispose();
            _activities.Dispose();
        }
    }
}
