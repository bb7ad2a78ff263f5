using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Http;

/// <summary>
/// HTTP: <c>http://host:port/base</c> and <c>https://host:port/base</c>. Each route is <c>POST {base}/{route}</c>. A client
/// goes through <see cref="IHttpClientFactory"/>; a server runs on its own Kestrel, unless the app mapped it with <c>MapIpc</c>.
/// </summary>
internal sealed class HttpTransport : IIpcTransport
{
    private const TransportCapabilities Capabilities =
        TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.Streaming | TransportCapabilities.Ordered
        | TransportCapabilities.CrossMachine | TransportCapabilities.CancellationPropagates;

    private static readonly string[] s_schemes = [Uri.UriSchemeHttp, Uri.UriSchemeHttps];

    public string Name => "Http";

    public IReadOnlyList<string> Schemes => s_schemes;

    public TransportCapabilities GetCapabilities(Uri address) => Capabilities;

    public string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (string.IsNullOrEmpty(address.Host))
        {
            return "name the host, for example http://127.0.0.1:5000/calculator.";
        }

        if (!string.IsNullOrEmpty(address.UserInfo))
        {
            return $"an {address.Scheme}:// address has no user name or password, as HttpClient does not send them; remove the part before '@'. Send credentials with a DelegatingHandler on the endpoint's named HttpClient (HttpIpcBuilderExtensions.HttpClientName), or a client certificate (Http:Tls).";
        }

        if (!string.IsNullOrEmpty(address.Query) || !string.IsNullOrEmpty(address.Fragment))
        {
            return "an http:// address has a host, a port and a base path, no query or fragment.";
        }

        return null;
    }

    public IIpcTransportClient CreateClient(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new HttpTransportClient(context, Options(context), context.Services.GetRequiredService<IHttpClientFactory>(), context.Services.GetService<HttpClientTlsRefusals>());
    }

    public IIpcTransportListener CreateListener(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new HttpTransportListener(context, Options(context));
    }

    private static HttpTransportOptions Options(IpcTransportContext context) =>
        context.Services.GetRequiredService<IOptionsMonitor<HttpTransportOptions>>().Get(context.EndpointName);
}
