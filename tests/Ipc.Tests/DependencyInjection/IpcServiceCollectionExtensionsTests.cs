using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ipc.Tests.DependencyInjection;

public sealed class IpcServiceCollectionExtensionsTests
{
    [Fact]
    public void AddIpc_RegistersFactoryKeyedClientsAndInMemory()
    {
        using var provider = TestSupport.Client("calc", "inmemory://calc");

        var factory = provider.GetRequiredService<IIpcClientFactory>();
        var keyedClient = provider.GetRequiredKeyedService<IRequestClient>("calc");
        var keyedChannel = provider.GetRequiredKeyedService<IChannel>("calc");

        Assert.Same(factory.GetRequestClient("calc"), keyedClient);
        Assert.Same(factory.GetChannel("CALC"), keyedChannel);
        Assert.Equal("calc", keyedClient.EndpointName);
        Assert.Contains(provider.GetServices<IIpcTransport>(), t => t.Name == "InMemory");
    }

    [Fact]
    public void AddIpc_CalledTwice_RegistersOneHostedServiceAndOneTransportEach()
    {
        var services = new ServiceCollection();
        services.AddIpc();
        services.AddIpc();
        using var provider = services.BuildServiceProvider();

        Assert.Single(provider.GetServices<IHostedService>());
        Assert.Single(provider.GetServices<IIpcTransport>(), t => t.Name == "InMemory");
    }

    [Fact]
    public async Task AddIpc_AdapterReferenced_IsDiscoveredWithoutCode()
    {
        await using var provider = TestSupport.Client("remote", "discovered://anywhere");

        var client = provider.GetRequiredKeyedService<IRequestClient>("remote");
        var echo = await client.RequestAsync<string, string>("route", "hello");

        Assert.Equal("hello", echo);
        Assert.Single(provider.GetServices<IIpcTransport>(), t => t.Name == "Discovered");
    }

    [Fact]
    public async Task Call_CapabilityMissing_ThrowsNotSupportedNamingTransport()
    {
        await using var provider = TestSupport.Client("remote", "discovered://anywhere");
        var client = provider.GetRequiredKeyedService<IRequestClient>("remote");

        var ex = await Assert.ThrowsAsync<IpcException>(async () =>
        {
            await foreach (var _ in client.StreamAsync<int, int>("r", 1))
            {
            }
        });

        Assert.Equal(IpcErrorCode.NotSupported, ex.ErrorCode);
        Assert.Contains("Discovered", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Streaming", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PublishAsync_WithoutPublishSubscribe_ThrowsNotSupportedWithoutReachingTransport()
    {
        await using var endpoint = Ipc.Tests.Resilience.ScriptedEndpoint.Create(capabilities: TransportCapabilities.RequestResponse | TransportCapabilities.OneWay);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.PublishAsync("topic", 1).AsTask());

        Assert.Equal(IpcErrorCode.NotSupported, ex.ErrorCode);
        Assert.Contains("PublishSubscribe", ex.Message, StringComparison.Ordinal);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public void AddIpc_ActionOverload_ConfiguresOptions()
    {
        var services = new ServiceCollection();
        services.AddIpc(o => o.Endpoints["calc"] = new IpcEndpointOptions { Address = "inmemory://calc", MaxMessageSize = 4096 });
        using var provider = services.BuildServiceProvider();

        Assert.Equal(4096, provider.GetRequiredService<IOptions<IpcOptions>>().Value.Endpoints["calc"].MaxMessageSize);
    }

    [Fact]
    public void AddServer_DuplicateRoute_Throws()
    {
        var services = new ServiceCollection();

        var ex = Assert.Throws<ArgumentException>(() => services.AddIpc().AddServer("calc", s => s
            .MapRequest<int, int>("double", i => i * 2)
            .MapRequest<int, int>("double", i => i * 3)));

        Assert.Contains("'double'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BindTransportOptions_EndpointSectionOverridesTransportSection()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""
            { "Ipc": { "Transports": { "Sample": { "Port": 1, "Name": "global" } },
                       "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Port": 2 } } } } }
            """)).BindTransportOptions<SampleTransportOptions>("Sample");
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<SampleTransportOptions>>();

        Assert.Equal(2, options.Get("calc").Port);
        Assert.Equal("global", options.Get("calc").Name);
        Assert.Equal(1, options.Get("other").Port);
    }

    [Fact]
    public async Task BindTransportOptions_BadValueInAnEndpointsSection_FailsStartOfAClientOnlyHostNamingTheKey()
    {
        using var host = SampleHost("""
            { "Ipc": { "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Port": 0 } },
                                      "other": { "Address": "inmemory://other" } } } }
            """);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(["Ipc:Endpoints:calc:Sample:Port must be positive."], ex.Failures);
    }

    [Fact]
    public async Task BindTransportOptions_ValueThatDoesNotConvertInAnEndpointsSection_FailsStartNamingTheKey()
    {
        using var host = SampleHost("""
            { "Ipc": { "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Port": "many" } } } } }
            """);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Ipc:Endpoints:calc:Sample:Port", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BindTransportOptions_BadTransportWideValue_IsReportedOnceUnderItsOwnKey()
    {
        using var host = SampleHost("""
            { "Ipc": { "Transports": { "Sample": { "Port": 0 } },
                       "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Name": "calc" } },
                                      "other": { "Address": "inmemory://other" } } } }
            """);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(["Ipc:Transports:Sample:Port must be positive."], ex.Failures);
    }

    [Fact]
    public async Task BindTransportOptions_GoodEndpointSections_StartAndBindAsConfigured()
    {
        using var host = SampleHost("""
            { "Ipc": { "Transports": { "Sample": { "Port": 1 } },
                       "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Port": 2 } } } } }
            """);

        await host.StartAsync();

        Assert.Equal(2, host.Services.GetRequiredService<IOptionsMonitor<SampleTransportOptions>>().Get("calc").Port);
        await host.StopAsync();
    }

    [Fact]
    public async Task TransportOptionsValidator_TransportWideValueSetInCode_NamesPropertyNotAKey()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint("calc", "inmemory://calc").BindTransportOptions<SampleTransportOptions>("Sample");
        builder.Services.AddOptions<SampleTransportOptions>().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SampleTransportOptions>, SampleTransportOptionsBaseValidator>();
        builder.Services.ConfigureAll<SampleTransportOptions>(o => o.Port = 0);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(["SampleTransportOptions.Port (set in code, for every endpoint) must be positive."], ex.Failures);
    }

    [Fact]
    public async Task TransportOptionsValidator_EndpointValueSetInCodeOverConfiguration_NamesPropertyAndEndpointNotAKey()
    {
        using var host = SampleHost(
            """{ "Ipc": { "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Port": 2 } } } } }""",
            services => services.Configure<SampleTransportOptions>("calc", o => o.Port = 0));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(["SampleTransportOptions.Port of endpoint 'calc' (set in code) must be positive."], ex.Failures);
    }

    [Fact]
    public async Task TransportOptionsValidator_ConfiguredEndpointValue_NamesItsKey()
    {
        using var host = SampleHost(
            """{ "Ipc": { "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Port": 0 } } } } }""",
            services => services.Configure<SampleTransportOptions>("calc", o => o.Name = "calc"));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(["Ipc:Endpoints:calc:Sample:Port must be positive."], ex.Failures);
    }

    [Fact]
    public void TransportOptionsValidator_EndpointValueFromTransportWideKey_NamesThatKey()
    {
        using var host = SampleHost(
            """
            { "Ipc": { "Transports": { "Sample": { "Port": 0 } },
                       "Endpoints": { "calc": { "Address": "inmemory://calc", "Sample": { "Name": "calc" } } } } }
            """,
            configure: null);

        var ex = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptionsMonitor<SampleTransportOptions>>().Get("calc"));

        Assert.Equal(["Ipc:Transports:Sample:Port must be positive."], ex.Failures);
    }

    /// <summary>A host that is only a client, with a transport's options bound as adapters bind theirs, and validated as they validate theirs.</summary>
    private static IHost SampleHost(string json) => SampleHost(json, configure: null, baseValidator: false);

    /// <summary>The same, validated by a <see cref="TransportOptionsValidator{TOptions}"/> as the adapters' validators are, with <paramref name="configure"/> run after binding.</summary>
    private static IHost SampleHost(string json, Action<IServiceCollection>? configure, bool baseValidator = true)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc(TestSupport.Json(json)).BindTransportOptions<SampleTransportOptions>("Sample");
        builder.Services.AddOptions<SampleTransportOptions>().ValidateOnStart();
        if (baseValidator)
        {
            builder.Services.AddSingleton<IValidateOptions<SampleTransportOptions>, SampleTransportOptionsBaseValidator>();
        }
        else
        {
            builder.Services.AddSingleton<IValidateOptions<SampleTransportOptions>, SampleTransportOptionsValidator>();
        }

        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    public sealed class SampleTransportOptions
    {
        public int Port { get; set; } = 1;

        public string? Name { get; set; }
    }

    private sealed class SampleTransportOptionsBaseValidator(IServiceProvider services) : TransportOptionsValidator<SampleTransportOptions>("Sample", services: services)
    {
        protected override void Check(string section, SampleTransportOptions options, ICollection<string> failures)
        {
            if (options.Port <= 0)
            {
                failures.Add($"{section}:Port must be positive.");
            }
        }
    }

    private sealed class SampleTransportOptionsValidator : IValidateOptions<SampleTransportOptions>
    {
        public ValidateOptionsResult Validate(string? name, SampleTransportOptions options) => options.Port > 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{(string.IsNullOrEmpty(name) ? "Ipc:Transports:Sample" : $"Ipc:Endpoints:{name}:Sample")}:Port must be positive.");
    }
}
