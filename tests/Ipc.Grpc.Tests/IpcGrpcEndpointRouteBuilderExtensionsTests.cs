using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Ipc.Testing;
using Ipc.TestUtils;
using Ipc.Transports;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ipc.Grpc.Tests;

/// <summary>An endpoint mapped into an ASP.NET Core app with MapIpcGrpc, behind the app's authentication and an authorization policy.</summary>
[Trait("Transport", "Grpc")]
public sealed class IpcGrpcEndpointRouteBuilderExtensionsTests : IAsyncLifetime
{
    private readonly int _port = TestAddresses.FreePort();
    private WebApplication? _app;

    private string Address => $"grpc://127.0.0.1:{_port}";

    public async Task InitializeAsync()
    {
        #region map-ipc-grpc
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, _port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddAuthentication(ApiKeyHandler.SchemeName).AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeyHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder().AddPolicy("callers", policy => policy.RequireClaim("role", "caller"));
        builder.Services.AddIpc()
            .AddEndpoint("calculator", Address)
            .AddServer("calculator", server => server.MapRequest<AddRequest, AddResponse>("add", r => new AddResponse(r.A + r.B)));

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapIpcGrpc("calculator").RequireAuthorization("callers");
        #endregion
        _app = app;
        await app.StartAsync().WaitAsync(TestIpc.Bound);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public void MapIpcGrpc_Endpoint_IsClaimedSoNoListenerOfItsOwnRuns()
    {
        // The app's Kestrel holds the port: a listener of the endpoint's own would have failed to bind it at start.
        Assert.True(_app!.Services.GetRequiredService<IIpcServerProvider>().GetServer("calculator").IsHostedExternally);
    }

    [Fact]
    public async Task RequestAsync_InterceptorAddsAcceptedKey_PassesThePolicy()
    {
        await using var client = CreateClient("secret");

        Assert.Equal(new AddResponse(42), await Add(client));
    }

    [Fact]
    public async Task RequestAsync_NoCredentials_ThrowsUnauthorized()
    {
        await using var client = CreateClient(apiKey: null);

        var ex = await Assert.ThrowsAsync<IpcException>(() => Add(client));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
    }

    [Fact]
    public async Task RequestAsync_AuthenticatedButNotInPolicy_ThrowsUnauthorized()
    {
        await using var client = CreateClient("guest");

        var ex = await Assert.ThrowsAsync<IpcException>(() => Add(client));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains("PermissionDenied", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MapIpcGrpc_SecondEndpoint_ThrowsNamingTheFirst()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddIpc()
            .AddEndpoint("a", "grpc://127.0.0.1:1").AddServer("a", s => s.MapRequest<int, int>("x", i => i))
            .AddEndpoint("b", "grpc://127.0.0.1:2").AddServer("b", s => s.MapRequest<int, int>("x", i => i));
        await using var app = builder.Build();
        app.MapIpcGrpc("a");

        var ex = Assert.Throws<InvalidOperationException>(() => app.MapIpcGrpc("b"));

        Assert.Contains("'a'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_OverTheMappedEndpointsLimit_ThrowsMessageTooLarge()
    {
        var port = TestAddresses.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddIpc()
            .AddEndpoint("echo", $"grpc://127.0.0.1:{port}", e => e.MaxMessageSize = 64 * 1024)
            .AddServer("echo", server => server.MapRequest<byte[], int>("length", b => b.Length));
        await using var app = builder.Build();
        app.MapIpcGrpc("echo");
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        var services = new ServiceCollection();
        services.AddIpc().AddEndpoint("echo", $"grpc://127.0.0.1:{port}", e => e.MaxMessageSize = 1024 * 1024);
        await using var client = services.BuildServiceProvider();
        var requests = client.GetRequiredKeyedService<IRequestClient>("echo");

        var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<byte[], int>("length", new byte[128 * 1024]).AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.MessageTooLarge, ex.ErrorCode);
        Assert.Equal(1000, await requests.RequestAsync<byte[], int>("length", new byte[1000]).AsTask().WaitAsync(TestIpc.Bound));
        await app.StopAsync();
    }

    private static Task<AddResponse> Add(IServiceProvider client) =>
        client.GetRequiredKeyedService<IRequestClient>("calculator").RequestAsync<AddRequest, AddResponse>("add", new AddRequest(40, 2)).AsTask().WaitAsync(TestIpc.Bound);

    private ServiceProvider CreateClient(string? apiKey)
    {
        var services = new ServiceCollection();
        var ipc = services.AddIpc().AddEndpoint("calculator", Address).ConfigureResilience(r => r.Enabled = false);
        if (apiKey is not null)
        {
            #region interceptor
            ipc.ConfigureGrpcClient("calculator").AddInterceptor(() => new ApiKeyInterceptor(apiKey));
            #endregion
        }

        return services.BuildServiceProvider();
    }

    /// <summary>A user's interceptor: adds the API key to every call's metadata.</summary>
    private sealed class ApiKeyInterceptor(string key) : Interceptor
    {
        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            var headers = context.Options.Headers ?? [];
            headers.Add("x-api-key", key);
            return continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers)));
        }
    }

    /// <summary>Authenticates <c>x-api-key: secret</c> as a caller and <c>x-api-key: guest</c> as a guest.</summary>
    private sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "ApiKey";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var role = Request.Headers["x-api-key"].ToString() switch
            {
                "secret" => "caller",
                "guest" => "guest",
                _ => null,
            };
            return Task.FromResult(role is null
                ? AuthenticateResult.NoResult()
                : AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim("role", role)], SchemeName)), SchemeName)));
        }
    }
}
