using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ipc.Tests.Configuration;

public sealed class IpcOptionsValidatorTests
{
    private static OptionsValidationException Fails(string json)
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json(json));
        using var provider = services.BuildServiceProvider();
        return Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);
    }

    [Fact]
    public void Validate_InMemoryAddressWithPassword_RefusedWithoutShowingIt()
    {
        var ex = Fails("""{ "Ipc": { "Endpoints": { "calc": { "Address": "inmemory://app:s3cret@calc" } } } }""");

        Assert.Contains("Ipc:Endpoints:calc:Address 'inmemory://app:***@calc' is not valid for the InMemory transport: an inmemory:// address has no user name or password", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("amqp://app:p@ss@broker/", "amqp://app:***@broker/")] // a '@' in a password must be written %40
    [InlineData("unix://app:s3/cret@/run/calc.sock", "unix://app:***@/run/calc.sock")]
    public void Validate_AddressNotValidWithPassword_ShownWithoutIt(string address, string shown)
    {
        var ex = Fails($$"""{ "Ipc": { "Endpoints": { "calc": { "Address": "{{address}}" } } } }""");

        Assert.Contains($"Ipc:Endpoints:calc:Address '{shown}' is not an absolute address", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ss@", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("cret", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddIpc_ConfigurationFromIssue_BindsEndpoint()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory://calculator" } } } }"""));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<IpcOptions>>().Value;

        Assert.Equal("inmemory://calculator", options.Endpoints["calculator"].Address);
        Assert.Equal(IpcEndpointOptions.DefaultMaxMessageSize, options.Endpoints["CALCULATOR"].MaxMessageSize);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Endpoints["calculator"].DrainTimeout);
        Assert.Equal(IpcOptions.MessagePackSerializer, options.Serializer);
    }

    [Fact]
    public void AddIpc_EveryEndpointKey_Binds()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""
            { "Ipc": { "Serializer": "Json", "EnableDetailedErrors": true,
                       "Endpoints": { "calc": { "Address": "inmemory://calc", "MaxMessageSize": 2048, "RequestTimeout": "00:00:03",
                                                "ConnectTimeout": "00:00:01", "DrainTimeout": "00:00:20", "Serializer": "MessagePack",
                                                "RequiredCapabilities": "RequestResponse, Streaming", "EnableDetailedErrors": false } } } }
            """));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<IpcOptions>>().Value;
        var calc = options.Endpoints["calc"];

        Assert.Equal(IpcOptions.JsonSerializer, options.Serializer);
        Assert.True(options.EnableDetailedErrors);
        Assert.False(calc.EnableDetailedErrors);
        Assert.Equal(2048, calc.MaxMessageSize);
        Assert.Equal(TimeSpan.FromSeconds(3), calc.RequestTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), calc.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(20), calc.DrainTimeout);
        Assert.Equal(IpcOptions.MessagePackSerializer, calc.Serializer);
        Assert.Equal(TransportCapabilities.RequestResponse | TransportCapabilities.Streaming, calc.RequiredCapabilities);
    }

    [Fact]
    public void AddIpc_Section_BindsThatSection()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""{ "Custom": { "Endpoints": { "a": { "Address": "pipe-less://a" } } } }""").GetSection("Custom"));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains("Custom:Endpoints:a:Address", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnknownScheme_NamesKeyAndRegisteredSchemes()
    {
        var ex = Fails("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "nosuch://calculator" } } } }""");

        Assert.Contains("Ipc:Endpoints:calculator:Address", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'nosuch'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Registered schemes:", ex.Message, StringComparison.Ordinal);
        Assert.Contains("inmemory", ex.Message, StringComparison.Ordinal);
        Assert.Contains("adapter package", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("unix:///tmp/calculator.sock", "Ipc.Sockets")]
    [InlineData("tcp://127.0.0.1:5000", "Ipc.Sockets")]
    [InlineData("pipe://calculator", "Ipc.Pipes")]
    [InlineData("worker://calculator", "Ipc.Pipes")]
    [InlineData("shm://calculator", "Ipc.SharedMemory")]
    [InlineData("http://localhost:5000", "Ipc.Http")]
    [InlineData("https://localhost:5001", "Ipc.Http")]
    [InlineData("grpc://localhost:5000", "Ipc.Grpc")]
    [InlineData("grpcs://localhost:5001", "Ipc.Grpc")]
    [InlineData("amqp://localhost", "Ipc.Amqp")]
    [InlineData("amqps://localhost", "Ipc.Amqp")]
    public void Validate_SchemeOfAdapterNotReferenced_NamesPackageToAdd(string address, string package)
    {
        var ex = Fails($$"""{ "Ipc": { "Endpoints": { "calculator": { "Address": "{{address}}" } } } }""");

        Assert.Contains("Ipc:Endpoints:calculator:Address", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"come from the {package} package: add it to the project (dotnet add package {package})", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ServerWithoutEndpointAndEmptyConfiguration_SaysNoConfigurationWasFound()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("{}")).AddServer("calculator", s => s.MapRequest<int, int>("x", i => i));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains("Ipc:Endpoints:calculator:Address is missing", ex.Message, StringComparison.Ordinal);
        Assert.Contains("The configuration has no 'Ipc' section at all: no configuration file with one was found, or the section is empty.", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CopyToOutputDirectory", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetRequestClient_UnknownEndpointAndEmptyConfiguration_SaysKeyIsMissingAndNoConfigurationWasFound()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("{}"));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IIpcClientFactory>().GetRequestClient("calculator"));

        Assert.Contains("Ipc:Endpoints:calculator:Address is missing", ex.Message, StringComparison.Ordinal);
        Assert.Contains("no configuration file with one was found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetRequestClient_UnknownEndpointWithOtherEndpointsConfigured_ListsThemWithoutFileHint()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "orders": { "Address": "inmemory://orders" } } } }"""));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IIpcClientFactory>().GetRequestClient("calculator"));

        Assert.Contains("Known endpoints: orders.", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("configuration file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MissingAddress_NamesKey()
    {
        var ex = Fails("""{ "Ipc": { "Endpoints": { "calculator": { "MaxMessageSize": 10 } } } }""");

        Assert.Contains("Ipc:Endpoints:calculator:Address is required", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RelativeAddress_NamesKey()
    {
        var ex = Fails("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "calculator" } } } }""");

        Assert.Contains("Ipc:Endpoints:calculator:Address 'calculator' is not an absolute address", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_InMemoryAddressWithoutName_SaysWhatIsWrong()
    {
        var ex = Fails("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory:///" } } } }""");

        Assert.Contains("not valid for the InMemory transport", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MaxMessageSize", "0")]
    [InlineData("MaxMessageSize", "2000000000")]
    [InlineData("RequestTimeout", "-00:00:05")]
    [InlineData("ConnectTimeout", "00:00:00")]
    [InlineData("ConnectTimeout", "60.00:00:00")]
    [InlineData("DrainTimeout", "-00:00:01")]
    [InlineData("DrainTimeout", "2.00:00:00")]
    [InlineData("Serializer", "Xml")]
    public void Validate_BadValue_NamesKey(string key, string value)
    {
        var ex = Fails($$"""{ "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory://calculator", "{{key}}": "{{value}}" } } } }""");

        Assert.Contains($"Ipc:Endpoints:calculator:{key}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MaxMessageSize", true)]
    [InlineData("MaxMessageSize", false)]
    [InlineData("RequestTimeout", true)]
    [InlineData("RequestTimeout", false)]
    [InlineData("ConnectTimeout", true)]
    [InlineData("ConnectTimeout", false)]
    [InlineData("Serializer", true)]
    [InlineData("Serializer", false)]
    public void Validate_BadValueSetInCode_NamesPropertyAndEndpointNotAKey(string key, bool configured)
    {
        // With configuration, the code replaces the endpoint's configured (good) value: the code is what to fix.
        var services = new ServiceCollection();
        var builder = configured
            ? services.AddIpc(TestSupport.Json("""
                { "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory://calculator", "MaxMessageSize": 100,
                           "RequestTimeout": "00:00:05", "ConnectTimeout": "00:00:05", "Serializer": "Json" } } } }
                """))
            : services.AddIpc().AddEndpoint("calculator", "inmemory://calculator");
        builder.ConfigureEndpoint("calculator", e =>
        {
            switch (key)
            {
                case "MaxMessageSize":
                    e.MaxMessageSize = 0;
                    break;
                case "RequestTimeout":
                    e.RequestTimeout = TimeSpan.FromSeconds(-5);
                    break;
                case "ConnectTimeout":
                    e.ConnectTimeout = TimeSpan.Zero;
                    break;
                default:
                    e.Serializer = "Xml";
                    break;
            }
        });
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains($"IpcEndpointOptions.{key} of endpoint 'calculator' (set in code) ", Assert.Single(ex.Failures), StringComparison.Ordinal);
        Assert.DoesNotContain($"Ipc:Endpoints:calculator:{key}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AddressSetInCodeInAppBoundFromConfiguration_NamesPropertyNotAKey()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "orders": { "Address": "inmemory://orders" } } } }"""))
            .AddEndpoint("calculator", "nosuch://calculator");
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.StartsWith("IpcEndpointOptions.Address of endpoint 'calculator' (set in code) 'nosuch://calculator' uses the scheme 'nosuch'", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_GlobalSerializerSetInCode_NamesPropertyNotAKey()
    {
        var services = new ServiceCollection();
        services.AddIpc(o => o.Serializer = "Yaml");
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.StartsWith("IpcOptions.Serializer (set in code) 'Yaml' is not a registered serializer.", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BadConfiguredValueCodeDoesNotChange_StillNamesKey()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory://calculator", "ConnectTimeout": "00:00:00" } } } }"""))
            .ConfigureEndpoint("calculator", e => e.MaxMessageSize = 2048);
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.StartsWith("Ipc:Endpoints:calculator:ConnectTimeout is 00:00:00: it must be positive", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnparsableValue_NamesKey()
    {
        var services = new ServiceCollection();
        services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory://calculator", "RequestTimeout": "soon" } } } }"""));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains("Ipc:Endpoints:calculator:RequestTimeout", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'soon'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_GlobalSerializerUnknown_NamesKey()
    {
        var ex = Fails("""{ "Ipc": { "Serializer": "Yaml" } }""");

        Assert.Contains("Ipc:Serializer 'Yaml'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RequiredCapabilityMissing_NamesKeyAndCapability()
    {
        var ex = Fails("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "inmemory://calculator", "RequiredCapabilities": "Durable" } } } }""");

        Assert.Contains("Ipc:Endpoints:calculator:RequiredCapabilities requires Durable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ServerWithoutEndpoint_NamesMissingKey()
    {
        var services = new ServiceCollection();
        services.AddIpc().AddServer("orphan", s => s.MapRequest<int, int>("x", i => i));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains("Ipc:Endpoints:orphan:Address is missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SubscriptionOnTransportWithoutPublishSubscribe_NamesTopicsAndTransport()
    {
        var services = new ServiceCollection();
        services.AddIpc()
            .AddScriptedTransport(new Ipc.Testing.ScriptedTransport(TransportCapabilities.RequestResponse | TransportCapabilities.OneWay))
            .AddEndpoint("orders", "scripted://orders")
            .AddServer("orders", s => s.MapSubscription<int>("order-placed", (_, _, _) => default).MapMessage<int>("note", (_, _, _) => default));
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains("subscribes to the published topics order-placed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Scripted transport", ex.Message, StringComparison.Ordinal);
        Assert.Contains("does not support PublishSubscribe", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostStart_BadConfiguration_FailsAtStart()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "nosuch://calculator" } } } }"""));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Ipc:Endpoints:calculator:Address", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetRequestClient_UnknownEndpoint_SaysHowToAddIt()
    {
        var services = new ServiceCollection();
        services.AddIpc().AddEndpoint("known", "inmemory://known");
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IIpcClientFactory>().GetRequestClient("unknown"));

        Assert.Contains("Ipc:Endpoints:unknown:Address", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Known endpoints: known", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigureEndpoint_AfterBinding_OverridesConfiguration()
    {
        var services = new ServiceCollection();
        #region configure-endpoint
        services.AddIpc(TestSupport.Json("""{ "Ipc": { "Endpoints": { "calc": { "Address": "inmemory://calc", "MaxMessageSize": 100 } } } }"""))
            .ConfigureEndpoint("calc", e => e.MaxMessageSize = 200);
        #endregion
        using var provider = services.BuildServiceProvider();

        Assert.Equal(200, provider.GetRequiredService<IOptions<IpcOptions>>().Value.Endpoints["calc"].MaxMessageSize);
    }
}
