using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.TestUtils;

/// <summary>Conformance servers and clients for transport-specific tests, configured in code.</summary>
public static class TestIpc
{
    /// <summary>The endpoint name servers and clients use.</summary>
    public const string Endpoint = "conformance";

    /// <summary>The longest any awaited event may take before a test fails instead of hanging.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    /// <summary>Starts a host serving the conformance routes on <paramref name="address"/>.</summary>
    public static async Task<IHost> StartServerAsync(string address, Action<IIpcBuilder>? configure = null, Action<IpcEndpointOptions>? endpoint = null, ConformanceProbe? probe = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var ipc = builder.Services.AddIpc();
        configure?.Invoke(ipc);
        ipc.AddEndpoint(Endpoint, address, endpoint);
        ipc.AddServer(Endpoint, server => server.MapConformanceRoutes(probe ?? new ConformanceProbe()));
        var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        return host;
    }

    /// <summary>
    /// Serves a route that answers with the name of the thread its handler started on, calls it once from a client, and
    /// returns that name: <c>Ipc connection reader</c> when the connection's dedicated reader ran the request.
    /// </summary>
    public static async Task<string?> HandlerThreadNameAsync(string address, Action<IIpcBuilder> configureServer, Action<IIpcBuilder> configureClient)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var ipc = builder.Services.AddIpc();
        configureServer(ipc);
        ipc.AddEndpoint(Endpoint, address).AddServer(Endpoint, server => server.MapRequest<string, string?[]>("thread", _ => [Thread.CurrentThread.Name]));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(Bound);
        await using (var client = CreateClient(address, configureClient))
        {
            var names = await client.Requests().RequestAsync<string, string?[]>("thread", "which").AsTask().WaitAsync(Bound);
            await server.StopAsync().WaitAsync(Bound);
            return Xunit.Assert.Single(names);
        }
    }

    /// <summary>Creates a client's services for <paramref name="address"/>; resolve clients with <see cref="Requests"/>.</summary>
    public static ServiceProvider CreateClient(string address, Action<IIpcBuilder>? configure = null, Action<IpcEndpointOptions>? endpoint = null)
    {
        var services = new ServiceCollection();
        var ipc = services.AddIpc();
        configure?.Invoke(ipc);
        ipc.AddEndpoint(Endpoint, address, endpoint);
        return services.BuildServiceProvider(validateScopes: true);
    }

    /// <summary>Gets the request client of the conformance endpoint.</summary>
    public static IRequestClient Requests(this IServiceProvider services) => services.GetRequiredKeyedService<IRequestClient>(Endpoint);

    /// <summary>Checks that a server answers a request and a short stream from <paramref name="services"/>'s client.</summary>
    public static async Task AssertServesAsync(IServiceProvider services)
    {
        var client = services.Requests();
        var sum = await client.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(Bound);
        Xunit.Assert.Equal(new AddResponse(42), sum);

        var items = new List<int>();
        await foreach (var item in client.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(10)).WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            items.Add(item);
        }

        Xunit.Assert.Equal(Enumerable.Range(0, 10), items);
    }

    /// <summary>
    /// Checks that a call to <paramref name="address"/>, where no server listens, fails at once (no retry, a connect
    /// timeout far past the bound) with Unavailable, not accepted, and a message naming the address and the endpoint.
    /// </summary>
    public static async Task AssertNoServerFailsAtOnceAsync(string address)
    {
        await using var client = CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false), e => e.ConnectTimeout = TimeSpan.FromMinutes(10));

        var ex = await Xunit.Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("echo", "x").AsTask().WaitAsync(Bound));

        Xunit.Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Xunit.Assert.True(ex.NotAccepted);
        Xunit.Assert.StartsWith($"No server is listening on {address}", ex.Message, StringComparison.Ordinal);
        Xunit.Assert.Contains($"(endpoint '{Endpoint}')", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Checks that a server and a client of <paramref name="address"/> with a user name and password in it fail at start
    /// saying <paramref name="expected"/>, and show the address with <c>***</c> for its password, never the password.
    /// </summary>
    public static async Task AssertRefusesCredentialsAsync(string address, string expected)
    {
        const string Password = "s3cret-pw";
        var start = address.IndexOf("://", StringComparison.Ordinal) + 3;
        var withPassword = address[..start] + "ipc:" + Password + "@" + address[start..];
        var masked = address[..start] + "ipc:***@" + address[start..];

        var server = await Xunit.Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => StartServerAsync(withPassword));
        await using var services = CreateClient(withPassword);
        var client = Xunit.Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => services.Requests());

        foreach (var message in new[] { server.Message, client.Message })
        {
            Xunit.Assert.Contains($"'{masked}' is not valid for the ", message, StringComparison.Ordinal);
            Xunit.Assert.Contains(expected, message, StringComparison.Ordinal);
            Xunit.Assert.DoesNotContain(Password, message, StringComparison.Ordinal);
        }
    }

    /// <summary>Starts the conformance server in another process on <paramref name="address"/> and checks this process can call it.</summary>
    public static async Task AssertServedFromAnotherProcessAsync(string address, Action<IIpcBuilder>? configure = null)
    {
        await using var server = await TestServerProcess.StartAsync(address, Bound);
        await using var client = CreateClient(address, configure);
        await AssertServesAsync(client);
    }
}
