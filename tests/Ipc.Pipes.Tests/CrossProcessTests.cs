using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Pipes.Tests;

[Trait("Transport", "Pipes")]
public sealed class CrossProcessTests
{
    [Fact]
    public Task RequestAsync_PipeServerInAnotherProcess_Answers() => TestIpc.AssertServedFromAnotherProcessAsync(TestAddresses.NewPipeAddress());

    [Fact]
    public async Task RequestAsync_PipeServerInAnotherProcess_HandlerSeesThisProcessAsThePeer()
    {
        var address = TestAddresses.NewPipeAddress();
        await using var server = await TestServerProcess.StartAsync(address, TestIpc.Bound);
        await using var client = TestIpc.CreateClient(address);

        var info = await client.Requests().RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(TestIpc.Bound);

        RemoteAddresses.AssertThisProcess(info.RemoteAddress);
    }

    [Fact]
    public async Task RequestAsync_WorkerProcess_IsStartedAndAnswersOverAnonymousPipes()
    {
        await using var client = WorkerClient();

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task RequestAsync_WorkerProcess_HandlerSeesItsParentAsThePeer()
    {
        await using var client = WorkerClient();

        var info = await client.Requests().RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(TestIpc.Bound);

        Assert.Equal(OperatingSystem.IsWindows() ? "parent" : $"pid={Environment.ProcessId}", info.RemoteAddress);
    }

    private static ServiceProvider WorkerClient()
    {
        var services = new ServiceCollection();
        services.AddIpc().AddWorkerProcess(TestIpc.Endpoint, worker =>
        {
            worker.FileName = TestServerProcess.DotNet;
            worker.Arguments.Add(TestServerProcess.DllPath);
            worker.Arguments.Add("worker");
        });
        return services.BuildServiceProvider();
    }
}
