using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Tests.Server;

public sealed class IpcServerBuilderTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task Routes_EveryKind_ListenerReadsThemWithTypesWhenItStarts()
    {
        var transport = new CapturingTransport();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton<IIpcTransport>(transport);
        builder.Services.AddIpc()
            .AddEndpoint("shop", "capture://shop")
            .AddServer("shop", s => s
                .WithServiceName("billing")
                .MapRequest<Add, int>("add", a => a.A + a.B)
                .MapStream<int, string>("count", (n, _, _) => Enumerable.Range(0, n).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToAsyncEnumerable())
                .MapMessage<string>("log", (_, _, _) => default)
                .MapSubscription<decimal>("price-changed", (_, _, _) => default)
                .MapRaw("bytes", (m, _, _) => new ValueTask<ReadOnlyMemory<byte>>(m.Body)));
        using var host = builder.Build();

        await host.StartAsync().WaitAsync(Bound);
        await host.StopAsync().WaitAsync(Bound);

        var started = Assert.Single(transport.Started);
        Assert.Equal("billing", started.ServiceName);
        Assert.Equal(
            [
                ("add", IpcRouteKind.Request, typeof(Add), typeof(int)),
                ("bytes", IpcRouteKind.Request, null, null),
                ("count", IpcRouteKind.Stream, typeof(int), typeof(string)),
                ("log", IpcRouteKind.OneWay, typeof(string), null),
                ("price-changed", IpcRouteKind.Subscription, typeof(decimal), null),
            ],
            started.Routes.Select(r => (r.Name, r.Kind, r.RequestType, r.ResponseType)));
    }

    [Fact]
    public void ServiceName_NotSet_IsTheApplicationName()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "shipping" });
        builder.Services.AddIpc().AddEndpoint("orders", TestSupport.NewAddress()).AddServer("orders", s => s.MapSubscription<int>("placed", (_, _, _) => default));
        using var host = builder.Build();

        var dispatcher = host.Services.GetRequiredService<IIpcServerProvider>().GetServer("orders").Dispatcher;

        Assert.Equal("shipping", dispatcher.ServiceName);
    }

    [Fact]
    public void ServiceName_NotSetAndNoHost_IsTheEndpointName()
    {
        var services = new ServiceCollection();
        services.AddIpc().AddEndpoint("orders", TestSupport.NewAddress()).AddServer("orders", s => s.MapSubscription<int>("placed", (_, _, _) => default));
        using var provider = services.BuildServiceProvider();

        var dispatcher = provider.GetRequiredService<IIpcServerProvider>().GetServer("orders").Dispatcher;

        Assert.Equal("orders", dispatcher.ServiceName);
        Assert.Equal(IpcRouteKind.Subscription, Assert.Single(dispatcher.Routes).Kind);
    }

    [Fact]
    public void MapSubscription_TopicAlreadyMappedAsRoute_Throws()
    {
        var services = new ServiceCollection();

        var ex = Assert.Throws<ArgumentException>(() => services.AddIpc().AddServer("orders", s => s
            .MapMessage<int>("placed", (_, _, _) => default)
            .MapSubscription<int>("placed", (_, _, _) => default)));

        Assert.Contains("'placed' is already mapped", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A transport whose listener only records what it was started with.</summary>
    private sealed class CapturingTransport : IIpcTransport
    {
        public List<(string ServiceName, IReadOnlyList<IpcRoute> Routes)> Started { get; } = [];

        public string Name => "Capturing";

        public IReadOnlyList<string> Schemes { get; } = ["capture"];

        public TransportCapabilities GetCapabilities(Uri address) => TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.PublishSubscribe;

        public string? ValidateAddress(Uri address) => null;

        public IIpcTransportClient CreateClient(IpcTransportContext context) => throw new NotSupportedException();

        public IIpcTransportListener CreateListener(IpcTransportContext context) => new Listener(this);

        private sealed class Listener(CapturingTransport transport) : IIpcTransportListener
        {
            public ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
            {
                transport.Started.Add((dispatcher.ServiceName, dispatcher.Routes));
                return default;
            }

            public ValueTask StopAsync(CancellationToken cancellationToken) => default;

            public ValueTask DisposeAsync() => default;
        }
    }
}
