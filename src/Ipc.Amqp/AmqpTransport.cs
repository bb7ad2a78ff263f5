using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.Amqp;

/// <summary>
/// The AMQP 0-9-1 transport on RabbitMQ (<c>amqp://</c>, <c>amqps://</c>): requests over direct reply-to, one-way
/// messages to a queue per route shared by the server's instances, publish/subscribe through a topic exchange with a
/// queue per subscribing service. See <see cref="AmqpTopology"/> for the names.
/// </summary>
internal sealed class AmqpTransport(IOptionsMonitor<AmqpTransportOptions> options) : IIpcTransport
{
    private const TransportCapabilities Transient =
        TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.PublishSubscribe
        | TransportCapabilities.AtLeastOnce | TransportCapabilities.CrossMachine;

    private static readonly string[] s_schemes = [AmqpAddress.Scheme, AmqpAddress.SecureScheme];

    public string Name => "Amqp";

    public IReadOnlyList<string> Schemes => s_schemes;

    /// <summary>Durable unless the transport-wide options (<c>Ipc:Transports:Amqp:Durable</c>) turn durability off.</summary>
    public TransportCapabilities GetCapabilities(Uri address) =>
        options.CurrentValue.Durable ? Transient | TransportCapabilities.Durable : Transient;

    public string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return AmqpAddress.Validate(address);
    }

    public IIpcTransportClient CreateClient(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new AmqpClient(context, options.Get(context.EndpointName));
    }

    public IIpcTransportListener CreateListener(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new AmqpListener(context, options.Get(context.EndpointName));
    }
}
