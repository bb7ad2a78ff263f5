using System.Buffers;
using System.Threading.Channels;
using Ipc.InMemory;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Tests.Server;

public sealed class IpcServerProviderTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task GetServer_MappedIntoWebHost_HostedServiceStartsNoListenerAndCallsGoThroughDispatcher()
    {
        var webAddress = TestSupport.NewAddress("web");
        var consoleAddress = TestSupport.NewAddress("console");
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc()
            .AddEndpoint("calculator", webAddress)
            .AddServer("calculator", s => s.MapRequest<Add, int>("add", a => a.A + a.B))
            .AddEndpoint("audit", consoleAddress)
            .AddServer("audit", s => s.MapRequest<int, int>("echo", v => v));
        using var host = builder.Build();

        await using var web = FakeWebHost.MapIpc(host.Services, "calculator"); // before the host starts, as app.MapIpc is
        await host.StartAsync().WaitAsync(Bound);
        try
        {
            var serializer = host.Services.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.MessagePackSerializer);
            var response = await web.PostAsync(new IpcMessage("add", Encode(serializer, new Add(2, 3)))).WaitAsync(Bound);

            Assert.Null(response.Fault);
            Assert.Equal(5, serializer.Deserialize<int>(response.Body));
            Assert.True(InMemoryHub.All(InMemoryTransport.Key(new Uri(webAddress))).IsEmpty, "a transport listener was started for the web-hosted endpoint");
            Assert.False(InMemoryHub.All(InMemoryTransport.Key(new Uri(consoleAddress))).IsEmpty, "the other endpoint got no listener");
            await using var client = TestSupport.Client("calculator", webAddress);
            var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IRequestClient>("calculator").RequestAsync<Add, int>("add", new Add(1, 1)).AsTask().WaitAsync(Bound));
            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        }
        finally
        {
            await host.StopAsync().WaitAsync(Bound);
        }
    }

    [Fact]
    public async Task MarkHostedExternally_AfterHostStarted_ThrowsNamingEndpoint()
    {
        var address = TestSupport.NewAddress();
        using var host = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calculator", address)
            .AddServer("calculator", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));
        var server = host.Services.GetRequiredService<IIpcServerProvider>().GetServer("calculator");

        var ex = Assert.Throws<InvalidOperationException>(server.MarkHostedExternally);

        Assert.Contains("calculator", ex.Message, StringComparison.Ordinal);
        Assert.False(server.IsHostedExternally);
    }

    [Fact]
    public async Task MarkHostedExternally_AfterHostStopped_Succeeds()
    {
        var address = TestSupport.NewAddress();
        using var host = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calculator", address)
            .AddServer("calculator", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));
        await host.StopAsync().WaitAsync(Bound);
        var server = host.Services.GetRequiredService<IIpcServerProvider>().GetServer("calculator");

        server.MarkHostedExternally();
        server.MarkHostedExternally();

        Assert.True(server.IsHostedExternally);
    }

    [Fact]
    public void GetServer_UnknownEndpoint_ThrowsNamingServers()
    {
        using var provider = ServerProvider(ipc => ipc.AddEndpoint("calculator", TestSupport.NewAddress()).AddServer("calculator", s => s.MapRequest<int, int>("echo", v => v)));
        var servers = provider.GetRequiredService<IIpcServerProvider>();

        var ex = Assert.Throws<InvalidOperationException>(() => servers.GetServer("billing"));

        Assert.Contains("'billing'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("calculator", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["calculator"], servers.EndpointNames);
        Assert.Same(servers.GetServer("calculator"), servers.GetServer("CALCULATOR"));
    }

    [Fact]
    public void GetServer_AddServerTwiceForOneEndpoint_ThrowsSayingSo()
    {
        using var provider = ServerProvider(ipc => ipc.AddEndpoint("calculator", TestSupport.NewAddress())
            .AddServer("calculator", s => s.MapRequest<int, int>("echo", v => v))
            .AddServer("calculator", s => s.MapRequest<int, int>("other", v => v)));

        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IIpcServerProvider>());

        Assert.Contains("AddServer(\"calculator\") was called more than once", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispatcher_SameForHostAndListener_OneDuplicateFilterForBoth()
    {
        var address = TestSupport.NewAddress();
        var runs = 0;
        using var host = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calculator", address).AddServer("calculator", s => s
            .UseDuplicateFilter()
            .MapRequest<int, int>("count", _ => Interlocked.Increment(ref runs))));
        var serializer = host.Services.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.MessagePackSerializer);
        var request = new IpcMessage("count", Encode(serializer, 0));
        await using var client = TestSupport.Client("calculator", address);

        await client.GetRequiredKeyedService<IRequestClient>("calculator").RequestAsync(request.Clone()).AsTask().WaitAsync(Bound);
        var again = await host.Services.GetRequiredService<IIpcServerProvider>().GetServer("calculator").Dispatcher.DispatchRequestAsync(request.Clone(), CancellationToken.None);

        Assert.Equal(1, serializer.Deserialize<int>(again.Body));
        Assert.Equal(1, runs);
    }

    private static ServiceProvider ServerProvider(Action<IIpcBuilder> configure)
    {
        var services = new ServiceCollection();
        configure(services.AddIpc());
        return services.BuildServiceProvider();
    }

    private static byte[] Encode<T>(IIpcSerializer serializer, T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(buffer, value);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Stands in for a web server that owns its request loop, as Kestrel does for an ASP.NET Core app: it takes requests
    /// from its own queue and hands each to the endpoint's dispatcher, which it got through the public hosting API.
    /// </summary>
    private sealed class FakeWebHost : IAsyncDisposable
    {
        private readonly Channel<(IpcMessage Request, TaskCompletionSource<IpcMessage> Response)> _requests = Channel.CreateUnbounded<(IpcMessage, TaskCompletionSource<IpcMessage>)>();
        private readonly Task _loop;

        private FakeWebHost(IIpcDispatcher dispatcher) => _loop = Task.Run(async () =>
        {
            await foreach (var (request, response) in _requests.Reader.ReadAllAsync())
            {
                response.TrySetResult(await dispatcher.DispatchRequestAsync(request, CancellationToken.None));
            }
        });

        /// <summary>What an <c>app.MapIpc("calculator")</c> does: claims the endpoint's server and serves its dispatcher.</summary>
        #region map-ipc
        public static FakeWebHost MapIpc(IServiceProvider services, string endpointName)
        {
            var server = services.GetRequiredService<IIpcServerProvider>().GetServer(endpointName);
            server.MarkHostedExternally(); // before the host starts: its hosted service then starts no listener for it
            return new FakeWebHost(server.Dispatcher); // each request the host receives: dispatcher.DispatchRequestAsync
        }
        #endregion

        public Task<IpcMessage> PostAsync(IpcMessage request)
        {
            var response = new TaskCompletionSource<IpcMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            _requests.Writer.TryWrite((request, response));
            return response.Task;
        }

        public async ValueTask DisposeAsync()
        {
            _requests.Writer.TryComplete();
            await _loop.WaitAsync(Bound);
        }
    }
}
