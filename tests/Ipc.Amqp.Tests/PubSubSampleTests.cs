using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Ipc.Amqp.Tests;

/// <summary>samples/PubSub run as its README says, against the tests' broker.</summary>
public sealed class PubSubSampleTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Sample_BrokerAddressOnTheCommandLine_EachServicePrintsEveryOrderOnce()
    {
        var address = AmqpTestAddresses.New("pubsub-sample");

        var (exitCode, output, errors) = await RunSampleAsync(
            $"--Ipc:Endpoints:shop:Address={address}",
            $"--Ipc:Endpoints:shop:Amqp:QueueExpiry={AmqpTestAddresses.QueueExpiry}");

        Assert.True(exitCode == 0, $"exit code {exitCode}\n{output}\n{errors}");
        var lines = output.Split('\n', StringSplitOptions.TrimEntries);
        foreach (var service in new[] { "billing", "shipping" })
        {
            for (var id = 1; id <= 3; id++)
            {
                Assert.Single(lines, line => line.StartsWith($"{service}: order {id} for ", StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public async Task Sample_NoBrokerAtTheAddress_ExitsWithOneSayingHowToPointItAtABroker()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var (exitCode, output, errors) = await RunSampleAsync($"--Ipc:Endpoints:shop:Address=amqp://127.0.0.1:{closedPort}/?name=pubsub-sample");

        Assert.True(exitCode == 1, $"exit code {exitCode}\n{output}\n{errors}");
        Assert.Contains("--Ipc:Endpoints:shop:Address=", errors, StringComparison.Ordinal);
        Assert.Contains("Ipc__Endpoints__shop__Address", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sample_BrokerThatNeverAnswers_GivesUpSayingWhatDidNotArriveAndWhatToCheck()
    {
        // Accepts connections and says nothing: the services never get subscribed, and the shop's wait for them ends.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = new List<Socket>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    accepted.Add(await listener.AcceptSocketAsync(stop.Token));
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        try
        {
            var (exitCode, output, errors) = await RunSampleAsync($"--Ipc:Endpoints:shop:Address=amqp://127.0.0.1:{port}/?name=pubsub-sample", "--Sample:WaitSeconds=2");

            Assert.True(exitCode == 1, $"exit code {exitCode}\n{output}\n{errors}");
            Assert.Contains("Gave up after 2 s: the billing service had not said it was ready (subscribed at the broker). Is the broker running, and is the address right?", errors, StringComparison.Ordinal);
            Assert.Contains("Ipc__Endpoints__shop__Address", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            await accepting;
            accepted.ForEach(socket => socket.Dispose());
        }
    }

    /// <summary>Runs the built sample (next to this test assembly's build output) with <paramref name="arguments"/>.</summary>
    private static async Task<(int ExitCode, string Output, string Errors)> RunSampleAsync(params string[] arguments)
    {
        // tests/Ipc.Amqp.Tests/bin/<configuration>/<framework>/ -> samples/PubSub/bin/<configuration>/<framework>/PubSub.dll
        var testProject = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", ".."));
        var built = Path.GetRelativePath(testProject, AppContext.BaseDirectory);
        var sample = Path.GetFullPath(Path.Combine(testProject, "..", "..", "samples", "PubSub", built, "PubSub.dll"));
        Assert.True(File.Exists(sample), $"{sample} is not built");

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(sample);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Bound);
            return (process.ExitCode, await output.WaitAsync(Bound), await errors.WaitAsync(Bound));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
