using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Server;

/// <summary>Starts a listener for every server registered with <c>AddServer</c> while the host runs.</summary>
internal sealed partial class IpcServerHostedService(
    IEnumerable<IpcServerDefinition> servers,
    EndpointRegistry endpoints,
    IServiceScopeFactory scopes,
    IServiceProvider services) : IHostedService, IAsyncDisposable, IDisposable
{
    private readonly List<IIpcTransportListener> _listeners = [];
    private readonly ILoggerFactory _loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = _loggers.CreateLogger("Ipc.Server");
        try
        {
            foreach (var server in servers)
            {
                var endpoint = endpoints.Get(server.EndpointName);
                var listener = endpoint.Transport.CreateListener(endpoint.TransportContext);
                _listeners.Add(listener);
                var dispatcher = new IpcDispatcher(endpoint, server, scopes, _loggers.CreateLogger("Ipc.Server.Dispatcher"));
                await listener.StartAsync(dispatcher, cancellationToken).ConfigureAwait(false);
                LogListening(logger, endpoint.Name, endpoint.Address, endpoint.Transport.Name, server.Routes.Count);
            }
        }
        catch
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var listeners = _listeners.ToArray();
        _listeners.Clear();
        foreach (var listener in listeners)
        {
            await listener.StopAsync(cancellationToken).ConfigureAwait(false);
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    public void Dispose() => StopAsync(CancellationToken.None).GetAwaiter().GetResult();

    [LoggerMessage(10, LogLevel.Information, "Ipc endpoint '{Endpoint}' listening on {Address} ({Transport}, {RouteCount} routes).")]
    private static partial void LogListening(ILogger logger, string endpoint, Uri address, string transport, int routeCount);
}
