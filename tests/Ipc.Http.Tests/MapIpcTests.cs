using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ipc.Http.Tests;

/// <summary>
/// The same server definition mapped into an ASP.NET Core app with <c>MapIpc</c>, behind an authorization policy: the
/// app's Kestrel serves it (the transport starts none of its own), and its conventions apply.
/// </summary>
public sealed class MapIpcTests : IAsyncLifetime
{
    private const string ApiKey = "let-me-in";

    private readonly int _port = TestAddresses.FreePort();
    private WebApplication? _app;

    private string Address => $"http://127.0.0.1:{_port}/calc";

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{_port}");
        builder.Services.AddAuthentication(ApiKeyHandler.SchemeName).AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeyHandler.SchemeName, null);
        builder.Services.AddAuthorization();

        #region map-ipc
        builder.Services.AddIpc()
            .AddEndpoint("conformance", Address) // http://127.0.0.1:<port>/calc: the routes go under /calc
            .AddServer("conformance", server => server.MapConformanceRoutes(new ConformanceProbe()));

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapIpc("conformance").RequireAuthorization(); // POST /calc/{route}, GET /calc/health, GET /calc/openapi.json
        #endregion

        _app = app;
        await _app.StartAsync().WaitAsync(TestIpc.Bound); // the same port as the endpoint's address: a listener of its own would fail to bind
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TestIpc.Bound);
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task RequestAsync_Unauthenticated_ThrowsUnauthorized()
    {
        await using var client = TestIpc.CreateClient(Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
    }

    [Fact]
    public async Task RequestAsync_KeyAddedByTheAppsOwnHandler_IsServed()
    {
        await using var client = TestIpc.CreateClient(Address, ipc =>
        {
            #region http-client-handler
            ipc.Services.AddHttpClient(HttpIpcBuilderExtensions.HttpClientName("conformance"))
                .AddHttpMessageHandler(() => new ApiKeyMessageHandler()); // adds X-Api-Key to every call of the endpoint
            #endregion
        });

        await TestIpc.AssertServesAsync(client);
        await client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint).SendAsync(ConformanceRoutes.Numbers, new Numbered(1)).AsTask().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task GetHealth_Unauthenticated_IsRefusedLikeTheRoutes()
    {
        using var http = new HttpClient();

        using var refused = await http.GetAsync(Address + "/health");
        http.DefaultRequestHeaders.Add(ApiKeyHandler.Header, ApiKey);
        using var served = await http.GetAsync(Address + "/health");

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task GetOpenApi_MappedIntoApp_DescribesTheRoutesUnderTheBase()
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(ApiKeyHandler.Header, ApiKey);

        var text = await http.GetStringAsync(Address + "/openapi.json");

        Assert.Contains("\"/calc/add\"", text, StringComparison.Ordinal);
    }

    private sealed class ApiKeyMessageHandler : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Add(ApiKeyHandler.Header, ApiKey);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "ApiKey";
        public const string Header = "X-Api-Key";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(Request.Headers[Header] == ApiKey
                ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "caller")], SchemeName)), SchemeName))
                : AuthenticateResult.NoResult());
    }
}
