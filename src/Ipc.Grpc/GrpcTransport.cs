using Ipc.Grpc.Protocol;
using Ipc.Transports;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Grpc;

/// <summary>
/// gRPC: <c>grpc://host:port</c> (HTTP/2 without TLS) and <c>grpcs://host:port</c> (HTTP/2 over TLS). Every call is one call
/// of the envelope service in <c>Protos/ipc.proto</c>: requests are unary <c>Request</c>s, one-way messages unary
/// <c>Send</c>s, streams server-streaming <c>Stream</c>s.
/// </summary>
internal sealed class GrpcTransport : IIpcTransport
{
    public const string Scheme = "grpc";
    public const string SecureScheme = "grpcs";

    /// <summary>The prefix of the name of each endpoint's client in Grpc.Net.ClientFactory.</summary>
    public const string ClientNamePrefix = "Ipc.Grpc:";

    /// <summary>What the envelope adds to a body, at most, beyond the endpoint's MaxMessageSize: route, ids, content type, headers.</summary>
    private const int EnvelopeAllowance = 64 * 1024;

    private static readonly string[] s_schemes = [Scheme, SecureScheme];

    public string Name => "Grpc";

    public IReadOnlyList<string> Schemes => s_schemes;

    public static bool IsSecure(Uri address) => string.Equals(address.Scheme, SecureScheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>The name of the Grpc.Net.ClientFactory client of <paramref name="endpointName"/>.</summary>
    public static string ClientName(string endpointName) => ClientNamePrefix + endpointName;

    /// <summary>The gRPC message size limit for an endpoint's MaxMessageSize: the body plus the envelope around it.</summary>
    public static int WireLimit(int maxMessageSize) => maxMessageSize > int.MaxValue - EnvelopeAllowance ? int.MaxValue : maxMessageSize + EnvelopeAllowance;

    /// <summary>The HTTP address of a <c>grpc://</c> or <c>grpcs://</c> address.</summary>
    public static Uri HttpAddress(Uri address) => new UriBuilder(address) { Scheme = IsSecure(address) ? Uri.UriSchemeHttps : Uri.UriSchemeHttp, Path = "/" }.Uri;

    public TransportCapabilities GetCapabilities(Uri address) =>
        TransportCapabilities.RequestResponse
        | TransportCapabilities.OneWay
        | TransportCapabilities.Streaming
        | TransportCapabilities.Ordered
        | TransportCapabilities.CancellationPropagates
        | TransportCapabilities.CrossMachine;

    public string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (string.IsNullOrEmpty(address.Host))
        {
            return $"name the host, for example {address.Scheme}://127.0.0.1:5081.";
        }

        if (address.IsDefaultPort || address.Port is <= 0 or > 65535)
        {
            return $"give the port, for example {address.Scheme}://127.0.0.1:5081.";
        }

        if (!string.IsNullOrEmpty(address.UserInfo))
        {
            return $"a {address.Scheme}:// address has no user name or password, as nothing would send them; remove the part before '@'. Send credentials with an interceptor (ConfigureGrpcClient(...).AddInterceptor), or a client certificate (Grpc:Tls).";
        }

        return address.AbsolutePath is "/" or "" && string.IsNullOrEmpty(address.Query) && string.IsNullOrEmpty(address.Fragment)
            ? null
            : $"a {address.Scheme}:// address has only a host and a port, no path, query or fragment (nothing would send them); send credentials with an interceptor (ConfigureGrpcClient(...).AddInterceptor).";
    }

    public IIpcTransportClient CreateClient(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var name = ClientName(context.EndpointName);
        var contexts = context.Services.GetRequiredService<GrpcClientContexts>();
        contexts.Set(name, context);
        var client = context.Services.GetRequiredService<GrpcClientFactory>().CreateClient<IpcService.IpcServiceClient>(name);
        return new GrpcTransportClient(context, client, () => contexts.Tls(name));
    }

    public IIpcTransportListener CreateListener(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new GrpcListener(context, Options(context));
    }

    public static GrpcTransportOptions Options(IpcTransportContext context) =>
        context.Services.GetService<IOptionsMonitor<GrpcTransportOptions>>()?.Get(context.EndpointName) ?? new GrpcTransportOptions();
}
