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

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var listeners = _listeners.ToArray();
        _listeners.Clear();
        foreach (var (server, listener) in listeners)
        {
            server.SetListening(false);
            try
            {
                await listener.StopAsync(cancellationToken).ConfigureAwait(false);
                await listener.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                server.ReleaseListener();
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    public void Dispose() => StopAsync(CancellationToken.None).GetAwaiter().GetResult();
}
