using Ipc.Diagnostics;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Server;

/// <summary>
/// Starts a transport listener for every server registered with <c>AddServer</c> while the host runs, except the servers
/// a host integration claimed (<see cref="IIpcServer.MarkHostedExternally"/>): their host owns the request loop.
/// </summary>
internal sealed partial class IpcServerHostedService(
    IpcServerProvider servers,
    EndpointRegistry endpoints,
    IServiceProvider services) : IHostedService, IAsyncDisposable, IDisposable
{
    private readonly List<(IpcServer Server, IIpcTransportListener Listener)> _listeners = [];
    private readonly ILoggerFactory _loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = _loggers.CreateLogger("Ipc.Server");
        try
        {
            foreach (var server in servers.Servers)
            {
                if (!server.TryClaimListener())
                {
                    Log.HostedExternally(logger, server.EndpointName, server.Definition.Routes.Count);
                    continue;
                }

                var endpoint = endpoints.Get(server.EndpointName);
                IIpcTransportListener listener;
                try
                {
                    listener = endpoint.Transport.CreateListener(endpoint.TransportContext);
                }
                catch
                {
                    server.ReleaseListener();
                    throw;
                }

                _listeners.Add((server, listener));
                await listener.StartAsync(server.GetDispatcher(), cancellationToken).ConfigureAwait(false);
                server.SetListening(true);
                Log.Listening(logger, endpoint.Name, endpoint.TransportContext.DisplayAddress, endpoint.Transport.Name, server.Definition.Routes.Count);
            }
        }
        catch
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops every endpoint at once, each within its own DrainTimeout and all within <paramref name="cancellationToken"/>
    /// (the host's ShutdownTimeout): the transport listeners this service started, and the stops the host integrations
    /// registered for the servers they claimed. One that fails to stop is logged and keeps none of the others from
    /// stopping; its exception is thrown once all have stopped.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var logger = _loggers.CreateLogger("Ipc.Server");
        var listeners = _listeners.ToArray();
        _listeners.Clear();
        var stops = new List<Task>();
        foreach (var (server, listener) in listeners)
        {
            server.SetListening(false);
            stops.Add(StopEndpointAsync(server.EndpointName, StopListener(server, listener), logger, cancellationToken));
        }

        foreach (var server in servers.Servers)
        {
            foreach (var stop in server.TakeStops())
            {
                stops.Add(StopEndpointAsync(server.EndpointName, stop, logger, cancellationToken));
            }
        }

        var all = Task.WhenAll(stops);
        try
        {
            await all.ConfigureAwait(false);
        }
        catch when (all.Exception is { InnerExceptions.Count: > 1 } several)
        {
            throw several.Flatten();
        }
    }

    private static Func<CancellationToken, Task> StopListener(IpcServer server, IIpcTransportListener listener) => async cancellationToken =>
    {
        try
        {
            await listener.StopAsync(cancellationToken).ConfigureAwait(false);
            await listener.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            server.ReleaseListener();
        }
    };

    private static async Task StopEndpointAsync(string endpoint, Func<CancellationToken, Task> stop, ILogger logger, CancellationToken cancellationToken)
    {
        await Task.Yield(); // each endpoint's stop runs on its own, whatever the stop does before its first await
        Log.EndpointStopping(logger, endpoint);
        try
        {
            await stop(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Failed(ex, cancellationToken))
        {
            Log.EndpointStopFailed(logger, endpoint, ex);
            throw;
        }
    }

    /// <summary>Whether a stop failed, rather than being ended by the host's token (what it dropped then, it reported itself).</summary>
    private static bool Failed(Exception ex, CancellationToken cancellationToken) =>
        ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested;

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    public void Dispose() => StopAsync(CancellationToken.None).GetAwaiter().GetResult();
}
