using System.Diagnostics;
using System.Globalization;

namespace Ipc.Benchmarks;

/// <summary>
/// The stream transports' request/response against their raw baselines, alternated in blocks of 500 calls, 40 times:
/// each block of Ipc calls runs right after a block of raw calls, under the same load, so the median of the per-block
/// ratios holds steady on a machine whose speed drifts between BenchmarkDotNet's separate runs of the two.
/// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- interleaved</c>
/// </summary>
internal static class InterleavedRatios
{
    private const int Blocks = 40;
    private const int BlockSize = 500;

    public static async Task RunAsync(TextWriter output)
    {
        output.WriteLine("| Transport | Inline | raw (median of blocks) | Ipc (median of blocks) | Ratio: median (p25 to p75) |");
        output.WriteLine("| --- | --- | ---: | ---: | ---: |");
        var transports = new (string Name, Func<StreamTransportBenchmarks> Create)[]
        {
            ("Pipes", () => new PipeBenchmarks()),
            ("UnixSocket", () => new UnixSocketBenchmarks()),
            ("Tcp", () => new TcpBenchmarks()),
        };
        foreach (var (name, create) in transports)
        {
            foreach (var inline in new[] { false, true })
            {
                var benchmark = create();
                benchmark.Inline = inline;
                await benchmark.SetupAsync();
                try
                {
                    await RunAsync(output, name, inline, benchmark);
                }
                finally
                {
                    await benchmark.CleanupAsync();
                }
            }
        }
    }

    private static async Task RunAsync(TextWriter output, string name, bool inline, StreamTransportBenchmarks benchmark)
    {
        // Warm up for 3 seconds and at least 2,000 calls of each: a process's first connections otherwise run while the
        // runtime is still compiling the calls' code at its higher tiers in the background.
        var warmUp = Stopwatch.StartNew();
        for (var i = 0; i < 2_000 || warmUp.Elapsed < TimeSpan.FromSeconds(3); i++)
        {
            await benchmark.RawRequestAsync();
            await benchmark.RequestAsync();
        }

        var raw = new List<double>();
        var ipc = new List<double>();
        var ratios = new List<double>();
        for (var block = 0; block < Blocks; block++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < BlockSize; i++)
            {
                await benchmark.RawRequestAsync();
            }

            var rawMicroseconds = watch.Elapsed.TotalMicroseconds / BlockSize;
            watch.Restart();
            for (var i = 0; i < BlockSize; i++)
            {
                await benchmark.RequestAsync();
            }

            var ipcMicroseconds = watch.Elapsed.TotalMicroseconds / BlockSize;
            raw.Add(rawMicroseconds);
            ipc.Add(ipcMicroseconds);
            ratios.Add(ipcMicroseconds / rawMicroseconds);
        }

        raw.Sort();
        ipc.Sort();
        ratios.Sort();
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {name} | {(inline ? "yes" : "no")} | {raw[Blocks / 2]:F1} us | {ipc[Blocks / 2]:F1} us | {ratios[Blocks / 2]:F2} ({ratios[Blocks / 4]:F2} to {ratios[3 * Blocks / 4]:F2}) |"));
    }
}
