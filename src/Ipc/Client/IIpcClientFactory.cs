namespace Ipc;

/// <summary>
/// Gives the client of any configured endpoint by name. The same clients are also registered as keyed services:
/// <c>[FromKeyedServices("calculator")] IRequestClient calculator</c>.
/// </summary>
/// <remarks>Thread-safe. Clients are created once per endpoint and disposed with the service provider.</remarks>
public interface IIpcClientFactory
{
    /// <summary>Gets the request client of the endpoint named <paramref name="endpointName"/>.</summary>
    IRequestClient GetRequestClient(string endpointName);

    /// <summary>Gets the channel of the endpoint named <paramref name="endpointName"/>.</summary>
    IChannel GetChannel(string endpointName);
}
