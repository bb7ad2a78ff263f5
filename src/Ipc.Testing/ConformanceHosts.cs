using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Testing;

/// <summary>A conformance server: a host running the conformance routes on one address.</summary>
public sealed class ConformanceServer : IAsyncDisposable
{
    private readonly IHost _host;
    private int _stopped;

    internal ConformanceServer(IHost host, string address)
    {
        _host = host;
        Address = address;
    }

    /// <summary>Gets the address the server listens on.</summary>
    public string Address { get; }

    /// <summary>Gets the server's services.</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>Stops the server (once).</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            await _host.StopAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _host.Dispose();
    }
}

/// <summary>A conformance client: its own service provider, as in another process, with the endpoint's clients.</summary>
public sealed class ConformanceClient : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    internal ConformanceClient(ServiceProvider services, string endpointName)
    {
        _services = services;
        var factory = services.GetRequiredService<IIpcClientFactory>();
        Requests = factory.GetRequestClient(endpointName);
        Channel = factory.GetChannel(endpointName);
    }

    /// <summary>Gets the request client.</summary>
    public IRequestClient Requests { get; }

    /// <summary>Gets the channel.</summary>
    public IChannel Channel { get; }

    /// <summary>Gets the client's services.</summary>
    public IServiceProvider Services => _services;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
