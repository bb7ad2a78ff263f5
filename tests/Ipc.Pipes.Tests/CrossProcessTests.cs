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

    /// <summary>
    /// A worker's connection is its life (its host stops when the connection ends), so neither side closes it for being
    /// idle: with the stream core's IdleTimeout (5 minutes by default) a worker left idle that long would exit, and the
    /// next call would start a new one without the old one's state.
    /// </summary>
    [Fact]
    public void WorkerConnection_IsNeverClosedForBeingIdle() =>
        Assert.Equal(Timeout.InfiniteTimeSpan, Ipc.Pipes.WorkerPipeTransport.ConnectionOptions().IdleTimeout);

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

    /// <summary>The worker runs in the WorkingDirectory and with the Environment its options give, on top of the parent's.</summary>
    [Fact]
    public async Task RequestAsync_WorkerProcess_RunsInItsWorkingDirectoryWithItsEnvironment()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-worker-");
        try
        {
            await using (var client = WorkerClient(worker =>
            {
                worker.WorkingDirectory = folder.FullName;
                worker.Environment["IPC_TEST_WORKER_MARK"] = "zürich 1";
            }))
            {
                var requests = client.Requests();

                Assert.Equal(folder.FullName, await requests.RequestAsync<string, string>("worker-setting", ".").AsTask().WaitAsync(TestIpc.Bound));
                Assert.Equal("zürich 1", await requests.RequestAsync<string, string>("worker-setting", "IPC_TEST_WORKER_MARK").AsTask().WaitAsync(TestIpc.Bound));
                Assert.Equal(Environment.GetEnvironmentVariable("PATH"), await requests.RequestAsync<string, string>("worker-setting", "PATH").AsTask().WaitAsync(TestIpc.Bound));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Disposing the parent closes the pipes and the worker's host stops by itself, well before ExitTimeout: it is not
    /// left waiting for a close it never sees, or killed.
    /// </summary>
    [Fact]
    public async Task DisposeAsync_WorkerProcess_ExitsByItselfWhenThePipesClose()
    {
        var client = WorkerClient(worker => worker.ExitTimeout = TimeSpan.FromHours(1));
        using var worker = await WorkerOfAsync(client);
        try
        {
            await client.DisposeAsync().AsTask().WaitAsync(TestIpc.Bound);

            Assert.True(worker.HasExited); // by itself: the kill would come after an hour
        }
        finally
        {
            KillIfRunning(worker);
        }
    }

    /// <summary>
    /// A worker that does not exit when its pipes close is killed after ExitTimeout, before disposing the parent's
    /// services returns: a parent that exits right after leaves no worker running.
    /// </summary>
    [Fact]
    public async Task DisposeAsync_WorkerProcessThatDoesNotExit_IsKilledBeforeDisposeReturns()
    {
        var client = WorkerClient(worker =>
        {
            worker.ExitTimeout = TimeSpan.FromMilliseconds(200);
            worker.Environment["IPC_TEST_WORKER_HANG_ON_STOP"] = "1";
        });
        using var worker = await WorkerOfAsync(client);
        try
        {
            await client.DisposeAsync().AsTask().WaitAsync(TestIpc.Bound);

            Assert.True(worker.HasExited);
        }
        finally
        {
            KillIfRunning(worker);
        }
    }

    /// <summary>Disposing the parent's services synchronously also waits for the worker to exit.</summary>
    [Fact]
    public async Task Dispose_WorkerProcess_ExitsBeforeDisposeReturns()
    {
        var client = WorkerClient(worker => worker.ExitTimeout = TimeSpan.FromHours(1));
        using var worker = await WorkerOfAsync(client);
        try
        {
            await Task.Run(client.Dispose).WaitAsync(TestIpc.Bound);

            Assert.True(worker.HasExited);
        }
        finally
        {
            KillIfRunning(worker);
        }
    }

    /// <summary>
    /// A worker that started a process of its own and then died: the parent still sees it die (the child does not hold
    /// the worker's pipes open), so the pending call fails with Unavailable and the next call starts a new worker.
    /// </summary>
    [Fact]
    public async Task RequestAsync_WorkerWithAChildProcessDies_PendingCallFailsAndTheNextStartsANewWorker()
    {
        await using var client = WorkerClient();
        using var worker = await WorkerOfAsync(client);
        var requests = client.Requests();
        using var grandchild = System.Diagnostics.Process.GetProcessById(int.Parse(
            await requests.RequestAsync<string, string>("worker-setting", "$spawn").AsTask().WaitAsync(TestIpc.Bound),
            System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            var call = requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
            worker.Kill();
            await worker.WaitForExitAsync().WaitAsync(TestIpc.Bound);

            var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(TestIpc.Bound));
            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
            using var next = await WorkerOfAsync(client);
            Assert.NotEqual(worker.Id, next.Id);
        }
        finally
        {
            KillIfRunning(worker);
            KillIfRunning(grandchild);
        }
    }

    /// <summary>
    /// Workers started at the same instant (by parents' services in one process) do not inherit each other's pipes: each
    /// worker killed in turn, while the others still run, fails its pending call with Unavailable at once. A worker that
    /// held another's pipe open would hide that one's death, and its call would wait for its timeout instead.
    /// </summary>
    [Fact]
    public async Task RequestAsync_WorkersStartedTogetherThenOneDies_PendingCallFailsAtOnce()
    {
        const int Count = 8;

        // Eight workers starting at once on a busy machine may take longer than the 5 s an endpoint waits to connect by
        // default; this test is about what happens once they run.
        var slowStart = TimeSpan.FromSeconds(60);
        var clients = Enumerable.Range(0, Count).Select(_ => WorkerClient(ipc: ipc => ipc.ConfigureEndpoint(TestIpc.Endpoint, endpoint =>
        {
            endpoint.ConnectTimeout = slowStart;
            endpoint.RequestTimeout = slowStart;
        }))).ToArray();
        var workers = new System.Diagnostics.Process[Count];
        try
        {
            using (var go = new Barrier(Count))
            {
                var started = await Task.WhenAll(clients.Select(client => Task.Factory.StartNew(
                    () =>
                    {
                        go.SignalAndWait(TestIpc.Bound);
                        return WorkerOfAsync(client).GetAwaiter().GetResult();
                    },
                    CancellationToken.None,
                    TaskCreationOptions.LongRunning,
                    TaskScheduler.Default))).WaitAsync(slowStart * 2);
                started.CopyTo(workers, 0);
            }

            for (var i = 0; i < Count; i++)
            {
                var requests = clients[i].Requests();
                var call = requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
                await requests.RequestAsync<string, string>("worker-setting", "$pid").AsTask().WaitAsync(TestIpc.Bound); // answered after the worker read the call
                workers[i].Kill();
                await workers[i].WaitForExitAsync().WaitAsync(TestIpc.Bound);

                var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(TestIpc.Bound));
                Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
            }
        }
        finally
        {
            foreach (var worker in workers.Where(worker => worker is not null))
            {
                KillIfRunning(worker);
                worker.Dispose();
            }

            await Task.WhenAll(clients.Select(client => client.DisposeAsync().AsTask())).WaitAsync(TestIpc.Bound);
        }
    }

    /// <summary>
    /// A worker that exits as it starts (here dotnet, given a program that does not exist) fails the call with Unavailable
    /// at once, saying that the worker exited, with its code, and what to check: not only that the connection closed.
    /// </summary>
    [Fact]
    public async Task RequestAsync_WorkerExitsAsItStarts_FailsSayingItExitedWithItsCode()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"ipc-no-such-worker-{Guid.NewGuid():N}.dll");
        var services = new ServiceCollection();
        services.AddIpc()
            .AddWorkerProcess(TestIpc.Endpoint, worker =>
            {
                worker.FileName = TestServerProcess.DotNet;
                worker.Arguments.Add(missing);
                worker.Environment[TestServerProcess.NoDiagnostics.Key] = TestServerProcess.NoDiagnostics.Value;
            })
            .ConfigureResilience(TestIpc.Endpoint, r => r.Enabled = false);
        await using var client = services.BuildServiceProvider();

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("worker-setting", "$pid").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Matches($"the worker process [0-9]+ \\('{System.Text.RegularExpressions.Regex.Escape(TestServerProcess.DotNet)}'\\) exited with code [1-9][0-9]*; if it exited as it started, check its Worker:FileName and Arguments", ex.Message);
    }

    /// <summary>The process of the worker that <paramref name="client"/> talks to (starting it).</summary>
    private static async Task<System.Diagnostics.Process> WorkerOfAsync(ServiceProvider client)
    {
        var pid = await client.Requests().RequestAsync<string, string>("worker-setting", "$pid").AsTask().WaitAsync(TestIpc.Bound);
        return System.Diagnostics.Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static void KillIfRunning(System.Diagnostics.Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TestIpc.Bound);
        }
    }

    private static ServiceProvider WorkerClient(Action<WorkerProcessOptions>? configure = null, Action<IIpcBuilder>? ipc = null)
    {
        var services = new ServiceCollection();
        var builder = services.AddIpc();
        builder.AddWorkerProcess(TestIpc.Endpoint, worker =>
        {
            worker.FileName = TestServerProcess.DotNet;
            worker.Arguments.Add(TestServerProcess.DllPath);
            worker.Arguments.Add("worker");
            worker.Environment[TestServerProcess.NoDiagnostics.Key] = TestServerProcess.NoDiagnostics.Value; // a killed worker leaves no diagnostic files
            configure?.Invoke(worker);
        });
        ipc?.Invoke(builder);
        return services.BuildServiceProvider();
    }
}
