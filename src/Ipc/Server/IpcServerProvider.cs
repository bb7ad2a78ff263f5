using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Server;

/// <summary>The servers registered with <c>AddServer</c>, by endpoint name; the hosted service and host integrations share them.</summary>
internal sealed class IpcServerProvider : IIpcServerProvider
{
    private readonly Dictionary<string, IpcServer> _servers = new(StringComparer.OrdinalIgnoreCase);

    public IpcServerProvider(IEnumerable<IpcServerDefinition> servers, EndpointRegistry endpoints, IServiceScopeFactory scopes, IServiceProvider services)
    {
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var applicationName = services.GetService<IHostEnvironment>()?.ApplicationName;
        foreach (var definition in servers)
        {
            var server = new IpcServer(definition, d => new IpcDispatcher(endpoints.Get(d.EndpointName), d, scopes, loggers.CreateLogger("Ipc.Server.Dispatcher"))
            {
                ServiceName = d.ServiceName ?? (string.IsNullOrEmpty(applicationName) ? d.EndpointName : applicationName),
            });
            if (!_servers.TryAdd(definition.EndpointName, server))
            {
                throw new InvalidOperationException(
                    $"AddServer(\"{definition.EndpointName}\") was called more than once. Map all the routes of an endpoint in one AddServer call.");
            }
        }

        EndpointNames = [.. _servers.Keys.Order(StringComparer.OrdinalIgnoreCase)];
    }

    public IReadOnlyCollection<string> EndpointNames { get; }

    public IReadOnlyCollection<IpcServer> Servers => _servers.Values;

    public IIpcServer GetServer(string endpointName)
    {
        ArgumentNullException.ThrowIfNull(endpointName);
        if (_servers.TryGetValue(endpointName, out var server))
        {
            return server;
        }

        var known = EndpointNames.Count == 0 ? "none" : string.Join(", ", EndpointNames);
        throw new InvalidOperationException($"There is no Ipc server for endpoint '{endpointName}'. Register one with AddServer(\"{endpointName}\", ...). Endpoints with a server: {known}.");
    }
}
