using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Benchmarks;

/// <summary>
/// Calls per second on one Unix-socket connection with many callers at once, for several values of the server's
/// <c>MaxConcurrentCallsPerConnection</c>: what the default costs a busy client. Each cell runs 2 seconds after a 2-second
/// warm-up, alternating the limits round by round, and reports the median of the rounds.
/// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- concurrency</c>
/// </summary>
internal static class ConcurrencyLimit
{
    private const int Rounds = 3;
    private static readonly int[] s_limits = [16, 100, 1_000_000];
    private static readonly int[] s_callers = [1, 16, 100, 400];

    public static async Task RunAsync(TextWriter output)
    {
        var results = new Dictionary<(int Limit, int Callers), List<double>>();
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var limit in s_limits)
            {
                var path = Path.Combine(Path.GetTempPath(), $"bench-limit-{Guid.NewGuid():N}.sock");
                var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
                builder.Services.AddIpc().AddSockets(o => o.MaxConcurrentCallsPerConnection = limit)
                    .AddEndpoint("bench", "unix://" + path)
                    .AddServer("bench", s => s.MapRequest<byte[], byte[]>("echo", static payload => payload));
                using var server = builder.Build();
                await server.StartAsync();
                var services = new ServiceCollection();
                services.AddIpc().AddSockets().AddEndpoint("bench", "unix://" + path);
                await using (var client = services.BuildServiceProvider())
                {
                    var requests = client.GetRequiredKeyedService<IRequestClient>("bench");
                    foreach (var callers in s_callers)
                    {
                        await MeasureAsync(requests, callers, TimeSpan.FromSeconds(2)); // warm-up
                        var perSecond = await MeasureAsync(requests, callers, TimeSpan.FromSeconds(2));
                        (results.TryGetValue((limit, callers), out var list) ? list : results[(limit, callers)] = []).Add(perSecond);
                    }
                }

                await server.StopAsync();
            }
        }

        output.WriteLine("| MaxConcurrentCallsPerConnection | " + string.Join(" | ", s_callers.Select(c => $"{c} caller{(c == 1 ? string.Empty : "s")}")) + " |");
        output.WriteLine("| --- |" + string.Concat(s_callers.Select(_ => " ---: |")));
        foreach (var limit in s_limits)
        {
            var cells = s_callers.Select(c => $"{Median(results[(limit, c)]):N0}/s");
            output.WriteLine($"| {(limit >= 1_000_000 ? "1,000,000 (no limit)" : limit.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))} | {string.Join(" | ", cells)} |");
        }
    }

    private static async Task<double> MeasureAsync(IRequestClient requests, int callers, TimeSpan duration)
    {
        var payload = new byte[64];
        var calls = 0L;
        var stopwatch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, callers).Select(async _ =>
        {
            while (stopwatch.Elapsed < duration)
            {
                await requests.RequestAsync<byte[], byte[]>("echo", payload).ConfigureAwait(false);
                Interlocked.Increment(ref calls);
            }
        });
        await Task.WhenAll(workers);
        return calls / stopwatch.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
