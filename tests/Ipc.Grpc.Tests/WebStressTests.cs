using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Ipc.Grpc.Tests;

/// <summary>
/// A randomized mixed workload (sized, cancelled, timed-out, throwing, streaming and one-way calls, server restarts and
/// client disposes under calls) on the gRPC transport. STRESS_SECONDS, STRESS_SEED and STRESS_CALLERS run it longer or
/// with another seed; STRESS_RESILIENCE=1 with the client's resilience pipeline; STRESS_STRICT=1 fails on a stream write
/// Grpc.AspNetCore refused because its call had ended, seen rarely and not yet reproduced alone.
/// </summary>
public sealed class WebStressTests(ITestOutputHelper output)
{
    [Fact]
    public async Task MixedWorkload_EveryCallEndsAsExpected()
    {
        var stress = new WebStress(
            new WebStressOptions
            {
                Scheme = "grpc",
                Transport = ipc => ipc.AddGrpc(),
                Seed = int.TryParse(Environment.GetEnvironmentVariable("STRESS_SEED"), out var seed) ? seed : 20261128,
                Duration = TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("STRESS_SECONDS"), out var seconds) ? seconds : 5),
                Callers = int.TryParse(Environment.GetEnvironmentVariable("STRESS_CALLERS"), out var callers) ? callers : 24,
                Resilience = Environment.GetEnvironmentVariable("STRESS_RESILIENCE") == "1",
                StrictGrpcWrites = Environment.GetEnvironmentVariable("STRESS_STRICT") == "1",
            },
            output.WriteLine);

        await stress.RunAsync();

        Assert.True(stress.Calls > 0);
        Assert.Empty(stress.Problems);
    }
}
