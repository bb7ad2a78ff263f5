using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Pipes.Tests;

[Trait("Transport", "Pipes")]
public sealed class CrossProcessTests
{
    [Fact]
    public Task RequestAsync_PipeServerInAnotherProcess_Answers() => TestIpc.AssertServedFromAnotherProcessAsync(TestAddresses.NewPipeAddress());

    [Fact]
    public async Task RequestAsync_WorkerProcess_IsStartedAndAnswersOverAnonymousPipes()
    {
        var services = new ServiceCollection();
        services.AddIpc().AddWorkerProcess(TestIpc.Endpoint, worker =>
        {
            worker.FileName = TestServerProcess.DotNet;
            worker.Arguments.Add(TestServerProcess.DllPath);
            worker.Arguments.Add("worker");
        });
        await using var client = services.BuildServiceProvider();

        await TestIpc.AssertServesAsync(client);
    }
}
