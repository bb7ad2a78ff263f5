using Ipc.InMemory;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Tests.Server;

public sealed class IpcServerHostedServiceTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    /// <summary>One endpoint's listener that throws as it stops keeps none of the host's other endpoints from stopping; it is logged, naming the endpoint, and the host's stop reports it.</summary>
    [Fact]
    public async Task StopAsync_OneListenerFailsToStop_TheOthersStopAndTheFailureIsLogged()
    {
        var address = TestSupport.NewAddress();
        var log = new ListLoggerProvider();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(log);
        builder.Services.AddIpc()
            .AddTransport<StopFailingTransport>()
            .AddEndpoint("broken", $"{StopFailingTransport.Scheme}://broken")
            .AddServer("broken", s => s.MapRequest<int, int>("echo", v => v))
            .AddEndpoint("calculator", address)
            .AddServer("calculator", s => s.MapRequest<int, int>("echo", v => v));
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        Assert.False(InMemoryHub.All(InMemoryTransport.Key(new Uri(address))).IsEmpty);

        var ex = await Record.ExceptionAsync(() => host.StopAsync().WaitAsync(Bound));

        Assert.Contains(StopFailingTransport.Failure, ex?.ToString() ?? string.Empty, StringComparison.Ordinal);
        Assert.True(InMemoryHub.All(InMemoryTransport.Key(new Uri(address))).IsEmpty, "the other endpoint's listener was not stopped");
        var failed = Assert.Single(log.Entries, e => e.Category == "Ipc.Server" && e.Level == LogLevel.Error);
        Assert.Contains("Ipc endpoint 'broken' failed to stop", failed.Message, StringComparison.Ordinal);
        Assert.Contains(StopFailingTransport.Failure, failed.Exception?.Message ?? string.Empty, StringComparison.Ordinal);
    }

    [Fact]
    public void RegisterStop_ServerNotClaimed_ThrowsNamingEndpoint()
    {
        using var provider = new ServiceCollection().AddIpc()
            .AddEndpoint("calculator", TestSupport.NewAddress())
            .AddServer("calculator", s => s.MapRequest<int, int>("echo", v => v))
            .Services.BuildServiceProvider();
        var server = provider.GetRequiredService<IIpcServerProvider>().GetServer("calculator");

        var ex = Assert.Throws<InvalidOperationException>(() => server.RegisterStop(_ => Task.CompletedTask));

        Assert.Contains("'calculator'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MarkHostedExternally", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>The stops a host integration registered are called with the host's stop token, and the host waits for them.</summary>
    [Fact]
    public async Task StopAsync_ServerClaimedWithAStop_TheHostWaitsForItWithItsToken()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc()
            .AddEndpoint("calculator", TestSupport.NewAddress())
            .AddServer("calculator", s => s.MapRequest<int, int>("echo", v => v));
        using var host = builder.Build();
        var server = host.Services.GetRequiredService<IIpcServerProvider>().GetServer("calculator");
        server.MarkHostedExternally();
        var called = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.RegisterStop(async token =>
        {
            called.TrySetResult(token);
            await release.Task;
        });
        await host.StartAsync().WaitAsync(Bound);

        using var stop = new CancellationTokenSource();
        var stopping = host.StopAsync(stop.Token);
        var token = await called.Task.WaitAsync(Bound);
        Assert.False(stopping.IsCompleted);
        stop.Cancel();
        Assert.True(token.IsCancellationRequested); // the host's stop token reaches the registered stop
        release.TrySetResult();
        await stopping.WaitAsync(Bound);
    }

    private sealed class StopFailingTransport : IIpcTransport
    {
        public const string Scheme = "stopfail";
        public const string Failure = "The listener broke as it stopped.";

        public string Name => "StopFailing";

        public IReadOnlyList<string> Schemes { get; } = [Scheme];

        public TransportCapabilities GetCapabilities(Uri address) => TransportCapabilities.RequestResponse;

        public string? ValidateAddress(Uri address) => null;

        public IIpcTransportClient CreateClient(IpcTransportContext context) => throw new NotSupportedException();

        public IIpcTransportListener CreateListener(IpcTransportContext context) => new Listener();

        private sealed class Listener : IIpcTransportListener
        {
            public ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken) => default;

            public ValueTask StopAsync(CancellationToken cancellationToken) => throw new InvalidOperationException(Failure);

            public ValueTask DisposeAsync() => default;
        }
    }
}
