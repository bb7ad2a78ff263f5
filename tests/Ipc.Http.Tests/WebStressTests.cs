using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Ipc.Http.Tests;

/// <summary>
/// A randomized mixed workload (sized, cancelled, timed-out, throwing, streaming and one-way calls, plain JSON calls beside
/// the Ipc client, server restarts and client disposes under calls) on the HTTP transport, over HTTP/1.1 and HTTP/2.
/// STRESS_SECONDS, STRESS_SEED and STRESS_CALLERS run it longer or with another seed; STRESS_RESILIENCE=1 with the
/// client's resilience pipeline (off by default, so the transport's own outcomes are seen).
/// </summary>
public sealed class WebStressTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(HttpIpcProtocol.Http1)]
    [InlineData(HttpIpcProtocol.Http2)]
    public async Task MixedWorkload_EveryCallEndsAsExpected(HttpIpcProtocol protocol)
    {
        var stress = new WebStress(
            new WebStressOptions
            {
                Scheme = "http",
                Transport = ipc => ipc.AddHttp(o => o.Protocol = protocol),
                Seed = int.TryParse(Environment.GetEnvironmentVariable("STRESS_SEED"), out var seed) ? seed : 20261128,
                Duration = TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("STRESS_SECONDS"), out var seconds) ? seconds : 5),
                Callers = int.TryParse(Environment.GetEnvironmentVariable("STRESS_CALLERS"), out var callers) ? callers : 24,
                PlainHttpVersion = protocol == HttpIpcProtocol.Http2 ? 2 : 1,
                Resilience = Environment.GetEnvironmentVariable("STRESS_RESILIENCE") == "1",
            },
            output.WriteLine);

        await stress.RunAsync();

        Assert.True(stress.Calls > 0);
        Assert.Empty(stress.Problems);
    }
}
