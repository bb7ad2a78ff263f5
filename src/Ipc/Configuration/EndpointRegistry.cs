using System.Collections.Concurrent;
using Ipc.Diagnostics;
using Ipc.Serialization;
using Ipc.Server;
using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc;

/// <summary>What the runtime resolved for one endpoint: its options, transport and serializer.</summary>
internal sealed class EndpointRuntime
{
    public required string Name { get; init; }

    public required IpcEndpointOptions Options { get; init; }

    public required Uri Address { get; init; }

    public required IIpcTransport Transport { get; init; }

    public required IIpcSerializer Serializer { get; init; }

    public required TransportCapabilities Capabilities { get; init; }

    public required IpcTransportContext TransportContext { get; init; }

    /// <summary>Gets the endpoint's spans and metrics.</summary>
    public required EndpointTelemetry Telemetry { get; init; }

    /// <summary>Gets a value indicating whether a server of the endpoint sends exception messages, types and its routes to callers.</summary>
    public required bool DetailedErrors { get; init; }
}

/// <summary>Resolves endpoints by name from the validated <see cref="IpcOptions"/>.</summary>
internal sealed class EndpointRegistry(
    IOptions<IpcOptions> options,
    TransportRegistry transports,
    SerializerRegistry serializers,
    IServiceProvider services,
    TimeProvider timeProvider,
    IpcConfigurationPath path,
    IpcMetrics metrics,
    IEnumerable<IpcServerDefinition> servers)
{
    private readonly ConcurrentDictionary<string, EndpointRuntime> _endpoints = new(StringComparer.OrdinalIgnoreCase);

    public EndpointRuntime Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _endpoints.GetOrAdd(name, Create);
    }

    private EndpointRuntime Create(string name)
    {
        var all = options.Value; // validated: a bad configuration throws OptionsValidationException here
        if (!all.Endpoints.TryGetValue(name, out var endpoint))
        {
            var known = all.Endpoints.Count == 0 ? "none" : string.Join(", ", all.Endpoints.Keys.Order(StringComparer.OrdinalIgnoreCase));
            throw new InvalidOperationException(
                $"There is no Ipc endpoint named '{name}': {path.Endpoint(name, "Address")} is missing. Set it in configuration or call AddEndpoint(\"{name}\", ...). Known endpoints: {known}.{path.EmptySectionHint()}");
        }

        var address = new Uri(endpoint.Address!, UriKind.Absolute);
        transports.TryGet(address.Scheme, out var transport);
        var serializerName = endpoint.Serializer ?? all.Serializer;
        return new EndpointRuntime
        {
            Name = name,
            Options = endpoint,
            Address = address,
            Transport = transport,
            Serializer = serializers.Find(serializerName)!,
            Capabilities = transport.GetCapabilities(address),
            DetailedErrors = endpoint.EnableDetailedErrors ?? all.EnableDetailedErrors,
            Telemetry = new EndpointTelemetry(metrics, name, address, EndpointTelemetry.RoutesServed(servers, name)),
            TransportContext = new IpcTransportContext(name, address, services)
            {
                MaxMessageSize = endpoint.MaxMessageSize,
                ConnectTimeout = endpoint.ConnectTimeout,
                DrainTimeout = endpoint.DrainTimeout,
                TimeProvider = timeProvider,
            },
        };
    }
}
