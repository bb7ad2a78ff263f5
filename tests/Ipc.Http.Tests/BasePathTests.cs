using System.Net;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Http.Tests;

/// <summary>
/// The base path of an http:// address, with a trailing slash or without, several segments, or characters a URL escapes:
/// the client calls under it, and the server serves under it, on its own Kestrel and mapped with <c>MapIpc</c>.
/// </summary>
public sealed class BasePathTests
{
    /// <summary>A base path as written in an address, and the path a request to its <c>health</c> is sent to, escaped.</summary>
    public static TheoryData<string, string> BasePaths => new()
    {
        { "/calc", "/calc/health" },
        { "/calc/", "/calc/health" },
        { "/api/v1/calc", "/api/v1/calc/health" },
        { "/my calc", "/my%20calc/health" },
        { "/my%20calc/", "/my%20calc/health" },
        { "/café", "/caf%C3%A9/health" },
        { "/a%2Fb", "/a%2Fb/health" },
        { string.Empty, "/health" },
    };

    [Theory]
    [MemberData(nameof(BasePaths))]
    public async Task OwnKestrel_BasePath_ClientAndServerAgree(string basePath, string health)
    {
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}{basePath}";
        using var server = await TestIpc.StartServerAsync(address);

        await AssertServedUnderAsync(address, port, health);
    }

    [Theory]
    [MemberData(nameof(BasePaths))]
    public async Task MapIpc_BasePath_ClientAndServerAgree(string basePath, string health)
    {
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}{basePath}";
        await using var app = await StartAppAsync(port, address, app => app.MapIpc(TestIpc.Endpoint));

        await AssertServedUnderAsync(address, port, health);
    }

    [Fact]
    public async Task MapIpc_AddressNotHttp_ServesUnderTheEndpointsName()
    {
        var port = TestAddresses.FreePort();
        await using var app = await StartAppAsync(port, $"inmemory://{TestIpc.Endpoint}", app => app.MapIpc(TestIpc.Endpoint));

        await AssertServedUnderAsync($"http://127.0.0.1:{port}/{TestIpc.Endpoint}", port, $"/{TestIpc.Endpoint}/health");
    }

    private static async Task<WebApplication> StartAppAsync(int port, string address, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddIpc()
            .AddEndpoint(TestIpc.Endpoint, address)
            .AddServer(TestIpc.Endpoint, server => server.MapConformanceRoutes(new ConformanceProbe()));
        var app = builder.Build();
        map(app);
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        return app;
    }

    /// <summary>An Ipc client of <paramref name="address"/> is served, and the server's health answers at <paramref name="health"/> and not at the root.</summary>
    private static async Task AssertServedUnderAsync(string address, int port, string health)
    {
        await using (var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false)))
        {
            await TestIpc.AssertServesAsync(client);
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using var served = await http.GetAsync(new Uri(health, UriKind.Relative)).WaitAsync(TestIpc.Bound);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        if (health != "/health")
        {
            using var root = await http.GetAsync(new Uri("/health", UriKind.Relative)).WaitAsync(TestIpc.Bound);
            Assert.Equal(HttpStatusCode.NotFound, root.StatusCode);
        }
    }
}
