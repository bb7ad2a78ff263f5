using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// The shared base of the conformance suites: it starts conformance servers and clients of the transport
/// <typeparamref name="TTransport"/> describes, and cleans them up. A transport does not subclass it directly: it
/// subclasses each suite it supports, in one line, and no other (no fact is skipped, and none asks what the transport can
/// do): <see cref="RequestResponseConformanceTests{TTransport}"/>, <see cref="OneWayConformanceTests{TTransport}"/>,
/// <see cref="OrderedConformanceTests{TTransport}"/>, <see cref="StreamingConformanceTests{TTransport}"/>,
/// <see cref="CancellationConformanceTests{TTransport}"/>, <see cref="PublishSubscribeConformanceTests{TTransport}"/>,
/// <see cref="DurableConformanceTests{TTransport}"/>, and <see cref="ConnectionConformanceTests{TTransport}"/> for a
/// transport whose clients talk to a running server (not a broker that keeps messages for a stopped one).
/// <code>
/// [Trait("Transport", "InMemory")]
/// public sealed class InMemoryRequestResponseTests : RequestResponseConformanceTests&lt;InMemoryTransportUnderTest&gt;;
/// </code>
/// Every test carries <c>Category=Conformance</c> (declared on each fact) and the subclass's <c>Transport</c> trait, which
/// must equal the transport's <see cref="IIpcTransport.Name"/>. Waits are on events with a bounded timeout; no test sleeps.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test: its addresses and hooks.</typeparam>
public abstract class TransportConformanceTests<TTransport> : IAsyncLifetime
    where TTransport : TransportUnderTest, new()
{
    /// <summary>The endpoint name both sides use.</summary>
    protected const string EndpointName = "conformance";

    /// <summary>The longest any awaited event may take before the test fails instead of hanging.</summary>
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static readonly string[] s_traceContext = [IpcHeaderNames.TraceParent, IpcHeaderNames.TraceState, IpcHeaderNames.Baggage];

    private readonly List<IAsyncDisposable> _resources = [];

    /// <summary>Gets the transport under test.</summary>
    protected TTransport Transport { get; } = new();

    /// <summary>Gets what the conformance handlers saw.</summary>
    protected ConformanceProbe Probe { get; } = new();

    /// <summary>
    /// Asserts that <paramref name="seen"/> holds every header of <paramref name="sent"/> with its value, and no other
    /// but the W3C trace context (which a listener in the same process may add): nothing of the transport's own.
    /// </summary>
    /// <param name="sent">The headers sent.</param>
    /// <param name="seen">The headers the other side saw.</param>
    protected static void AssertHeadersAsSent(IReadOnlyDictionary<string, string> sent, IReadOnlyDictionary<string, string> seen)
    {
        ArgumentNullException.ThrowIfNull(sent);
        ArgumentNullException.ThrowIfNull(seen);
        foreach (var (name, value) in sent)
        {
            Assert.True(seen.TryGetValue(name, out var got), $"header {name} was lost");
            Assert.Equal(value, got);
        }

        Assert.Empty(seen.Keys.Except(sent.Keys, StringComparer.OrdinalIgnoreCase).Except(s_traceContext, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>Gets the capabilities the suite tests; a transport that subclasses the suite must declare them.</summary>
    protected virtual TransportCapabilities SuiteCapabilities => TransportCapabilities.None;

    /// <summary>Returns a new address no other test uses.</summary>
    protected string CreateAddress() => Transport.CreateAddress();

    /// <inheritdoc />
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public virtual async Task DisposeAsync()
    {
        for (var i = _resources.Count - 1; i >= 0; i--)
        {
            await _resources[i].DisposeAsync().AsTask().WaitAsync(Bound);
        }
    }

    /// <summary>Starts a conformance server on <paramref name="address"/>, reporting to <see cref="Probe"/>.</summary>
    protected Task<ConformanceServer> StartServerAsync(string address, Action<IpcEndpointOptions>? configure = null) =>
        StartServerAsync(address, Probe, serviceName: null, configure);

    /// <summary>
    /// Starts a conformance server on <paramref name="address"/> reporting to <paramref name="probe"/>, as an instance of
    /// the service <paramref name="serviceName"/> (see <see cref="IpcServerBuilder.WithServiceName"/>; the default when
    /// <see langword="null"/>), on the clock <paramref name="time"/> (the system's when <see langword="null"/>).
    /// </summary>
    protected Task<ConformanceServer> StartServerAsync(string address, ConformanceProbe probe, string? serviceName, Action<IpcEndpointOptions>? configure = null, TimeProvider? time = null) =>
        StartServerAsync(address, probe, serviceName, configure, time, services: null);

    /// <summary>As the public overload, and lets a fact add to the server's services (a logger provider, say).</summary>
    private protected async Task<ConformanceServer> StartServerAsync(string address, ConformanceProbe probe, string? serviceName, Action<IpcEndpointOptions>? configure, TimeProvider? time, Action<IServiceCollection>? services)
    {
        ArgumentNullException.ThrowIfNull(probe);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        services?.Invoke(builder.Services);

        var ipc = builder.Services.AddIpc();
        Transport.ConfigureIpc(ipc);
        ipc.AddEndpoint(EndpointName, address, endpoint =>
        {
            Transport.ConfigureEndpoint(endpoint);
            configure?.Invoke(endpoint);
        });
        ipc.AddServer(EndpointName, server =>
        {
            MapRoutes(server, probe);
            if (serviceName is not null)
            {
                server.WithServiceName(serviceName);
            }
        });
        var host = builder.Build();
        var server = new ConformanceServer(host, address);
        _resources.Add(server);
        try
        {
            await host.StartAsync().WaitAsync(Bound);
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            // A host whose start failed (options validation, say) cannot be stopped: its services go with the host.
            _resources.Remove(server);
            host.Dispose();
            throw;
        }

        return server;
    }

    /// <summary>Maps the routes of a conformance server: <see cref="ConformanceRoutes.MapConformanceRoutes"/>, and what the suite adds.</summary>
    protected virtual void MapRoutes(IpcServerBuilder server, ConformanceProbe probe) => server.MapConformanceRoutes(probe);

    /// <summary>Creates a conformance client of <paramref name="address"/> with its own service provider.</summary>
    /// <remarks>
    /// Its calls run with retries off, so each fact sees what the transport itself does; the resilience facts turn them on
    /// with <paramref name="resilience"/>, which runs after.
    /// </remarks>
    protected ConformanceClient CreateClient(string address, Action<IpcEndpointOptions>? configure = null, TimeProvider? timeProvider = null, Action<IpcResilienceOptions>? resilience = null) =>
        CreateClient(address, configure, timeProvider, resilience, counter: null);

    /// <summary>As the public overload, and lets a fact add to the client's services (a logger provider, say).</summary>
    private protected ConformanceClient CreateClient(string address, Action<IpcEndpointOptions>? configure, TimeProvider? timeProvider, Action<IpcResilienceOptions>? resilience, AttemptCountingTransport.Counter? counter, Action<IServiceCollection>? extraServices = null)
    {
        var services = new ServiceCollection();
        if (timeProvider is not null)
        {
            services.AddSingleton(timeProvider);
        }

        extraServices?.Invoke(services);

        var ipc = services.AddIpc();
        Transport.ConfigureIpc(ipc);
        ipc.AddEndpoint(EndpointName, address, endpoint =>
        {
            Transport.ConfigureEndpoint(endpoint);
            configure?.Invoke(endpoint);
        });
        ipc.ConfigureResilience(EndpointName, r =>
        {
            r.Enabled = true; // the standard pipeline on every transport, in-process ones included
            r.Retry.MaxRetryAttempts = 0;
        });
        if (resilience is not null)
        {
            ipc.ConfigureResilience(EndpointName, resilience);
        }

        if (counter is not null)
        {
            AttemptCountingTransport.Install(services, counter);
        }

        var client = new ConformanceClient(services.BuildServiceProvider(validateScopes: true), EndpointName);
        _resources.Add(client);
        return client;
    }

    /// <summary>Starts a server on a new address and returns a client of it.</summary>
    protected async Task<(ConformanceServer Server, ConformanceClient Client)> StartPairAsync(
        Action<IpcEndpointOptions>? configureServer = null, Action<IpcEndpointOptions>? configureClient = null, TimeProvider? clientTime = null)
    {
        var address = CreateAddress();
        var server = await StartServerAsync(address, configureServer);
        return (server, CreateClient(address, configureClient, clientTime));
    }

    /// <summary>The subclass names its transport in a <c>Transport</c> trait that matches the transport it tests.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual void Suite_TransportTrait_MatchesTransportName()
    {
        var traits = GetType().GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == "Transport")
            .Select(a => (string?)a.ConstructorArguments[1].Value)
            .ToList();
        var trait = Assert.Single(traits);

        var address = new Uri(CreateAddress());
        var client = CreateClient(address.OriginalString);
        var transport = client.Services.GetServices<IIpcTransport>().Single(t => t.Schemes.Contains(address.Scheme, StringComparer.OrdinalIgnoreCase));
        Assert.Equal(transport.Name, trait);
    }

    /// <summary>The transport declares the capabilities of the suite it subclasses, so callers that read them are told the truth.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual void Suite_TransportCapabilities_IncludeWhatTheSuiteTests()
    {
        var client = CreateClient(CreateAddress());

        var missing = SuiteCapabilities & ~client.Channel.Capabilities;

        Assert.True(missing == TransportCapabilities.None, $"{GetType().Name} tests {SuiteCapabilities}, but the transport does not declare {missing}.");
    }
}
