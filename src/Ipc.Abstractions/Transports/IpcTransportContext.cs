namespace Ipc.Transports;

/// <summary>Everything a transport needs to create the client or server side of one endpoint.</summary>
public sealed class IpcTransportContext
{
    /// <summary>Creates a context.</summary>
    public IpcTransportContext(string endpointName, Uri address, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(endpointName);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(services);
        EndpointName = endpointName;
        Address = address;
        DisplayAddress = AddressText.Redact(address);
        Services = services;
    }

    /// <summary>Gets the endpoint's name (the key under <c>Ipc:Endpoints</c>).</summary>
    public string EndpointName { get; }

    /// <summary>Gets the endpoint's address.</summary>
    public Uri Address { get; }

    /// <summary>
    /// Gets the endpoint's address as log records, health reports and error messages show it: as configured, with the
    /// password of its user info and the value of every query parameter replaced by <c>***</c>
    /// (<c>amqp://app:***@broker/shop?name=***</c>). Name the address with it, never with <see cref="Address"/>, which
    /// may carry a secret.
    /// </summary>
    public string DisplayAddress { get; }

    /// <summary>Gets the application's services (for <c>ILoggerFactory</c> and the transport's own options, named by endpoint).</summary>
    public IServiceProvider Services { get; }

    /// <summary>Gets the largest body, in bytes, either side may send or accept.</summary>
    public int MaxMessageSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Gets how long the client may wait to connect before failing with <see cref="IpcErrorCode.Unavailable"/>.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets how long a stopping server goes on handling the one-way messages it already accepted, at most (the stop's
    /// token may end it sooner); those still waiting then are reported as not delivered, and the running handler's token is cancelled.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets the clock to use for every timer.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
