using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace Ipc.Transports;

/// <summary>
/// Leaves <c>IHttpClientFactory</c>'s default logging handlers out of a client a transport names for an endpoint, as
/// <c>RemoveAllLoggers()</c> does for a client registered by name. Those handlers log four lines at Information and add a
/// logging scope to every call, where the Ipc runtime logs and measures its calls itself; the endpoints' names are known
/// only once the factory reads a client's options, so the transport applies what <c>RemoveAllLoggers()</c> registers
/// there. An app brings them back with <c>AddDefaultLogger()</c> on the endpoint's named client.
/// </summary>
internal static class HttpClientLogging
{
    public static void RemoveDefaultLoggers(string name, HttpClientFactoryOptions options)
    {
        var registered = new ServiceCollection();
        new NamedClient(name, registered).RemoveAllLoggers();
        foreach (var descriptor in registered)
        {
            if (descriptor.ImplementationInstance is IConfigureNamedOptions<HttpClientFactoryOptions> configure)
            {
                configure.Configure(name, options);
            }
        }
    }

    private sealed class NamedClient(string name, IServiceCollection services) : IHttpClientBuilder
    {
        public string Name => name;

        public IServiceCollection Services => services;
    }
}
