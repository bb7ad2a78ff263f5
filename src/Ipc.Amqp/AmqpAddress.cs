using System.Globalization;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ipc.Tls;
using RabbitMQ.Client;

namespace Ipc.Amqp;

/// <summary>
/// An endpoint's address, <c>amqp://[user:password@]host[:port][/vhost][?name=broker-name]</c>, with the options that
/// complete it: where to connect, how to log in, and the name its queues and exchange start with.
/// </summary>
internal sealed class AmqpAddress
{
    public const string Scheme = "amqp";
    public const string SecureScheme = "amqps";
    public const int DefaultPort = 5672;
    public const int DefaultSecurePort = 5671;

    private AmqpAddress(string name, string virtualHost, string userName, string password, IReadOnlyList<AmqpTcpEndpoint> endpoints)
    {
        Name = name;
        VirtualHost = virtualHost;
        UserName = userName;
        Password = password;
        Endpoints = endpoints;
    }

    /// <summary>Gets the name every queue and exchange of the endpoint starts with (see <see cref="AmqpTopology"/>).</summary>
    public string Name { get; }

    public string VirtualHost { get; }

    public string UserName { get; }

    public string Password { get; }

    /// <summary>Gets the nodes to connect to: the address's host first, then <see cref="AmqpTransportOptions.Hosts"/>.</summary>
    public IReadOnlyList<AmqpTcpEndpoint> Endpoints { get; }

    /// <summary>Checks an address; returns what is wrong with it, or <see langword="null"/>.</summary>
    public static string? Validate(Uri address)
    {
        if (string.IsNullOrEmpty(address.Host))
        {
            return "name the broker's host, for example amqp://localhost or amqp://user@rabbit1:5672/vhost.";
        }

        var path = address.AbsolutePath.Trim('/');
        if (path.Contains('/', StringComparison.Ordinal))
        {
            return "the path of an amqp:// address is the virtual host, one segment (write the default virtual host '/' as %2F, or leave the path out).";
        }

        foreach (var (key, value) in Query(address))
        {
            if (!string.Equals(key, "name", StringComparison.OrdinalIgnoreCase))
            {
                return $"unknown query parameter '{key}'; an amqp:// address takes only ?name=<the name its queues start with>.";
            }

            if (AmqpTopology.CheckName(value) is { } problem)
            {
                return $"?name={value}: {problem}";
            }
        }

        return null;
    }

    /// <summary>Resolves an address of the endpoint <paramref name="endpointName"/> with its options.</summary>
    public static AmqpAddress Resolve(Uri address, string endpointName, AmqpTransportOptions options)
    {
        var secure = string.Equals(address.Scheme, SecureScheme, StringComparison.OrdinalIgnoreCase) || options.Tls.Enabled;
        var port = address.IsDefaultPort || address.Port <= 0 ? (secure ? DefaultSecurePort : DefaultPort) : address.Port;
        string? user = null;
        string? password = null;
        if (!string.IsNullOrEmpty(address.UserInfo))
        {
            var colon = address.UserInfo.IndexOf(':', StringComparison.Ordinal);
            user = Uri.UnescapeDataString(colon < 0 ? address.UserInfo : address.UserInfo[..colon]);
            password = colon < 0 ? null : Uri.UnescapeDataString(address.UserInfo[(colon + 1)..]);
        }

        var path = Uri.UnescapeDataString(address.AbsolutePath.Trim('/'));
        var name = Query(address).FirstOrDefault(p => string.Equals(p.Key, "name", StringComparison.OrdinalIgnoreCase)).Value;
        var endpoints = new List<AmqpTcpEndpoint> { Endpoint(address.DnsSafeHost, port, secure, options.Tls) };
        foreach (var host in options.Hosts)
        {
            var parsed = ParseHost(host, secure ? DefaultSecurePort : DefaultPort) ?? throw new ArgumentException($"'{host}' is not a host or host:port.", nameof(options));
            endpoints.Add(Endpoint(parsed.Host, parsed.Port, secure, options.Tls));
        }

        return new AmqpAddress(
            string.IsNullOrEmpty(name) ? endpointName : name,
            path.Length == 0 ? "/" : path,
            options.UserName ?? user ?? "guest",
            options.Password ?? password ?? "guest",
            endpoints);
    }

    /// <summary>Parses <c>host</c> or <c>host:port</c> (an IPv6 host in brackets).</summary>
    public static (string Host, int Port)? ParseHost(string value, int defaultPort)
    {
        if (string.IsNullOrWhiteSpace(value) || !Uri.TryCreate("amqp://" + value.Trim(), UriKind.Absolute, out var uri) || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return null;
        }

        return (uri.DnsSafeHost, uri.IsDefaultPort || uri.Port <= 0 ? defaultPort : uri.Port);
    }

    /// <summary>
    /// Gets the nodes in the order to try them: the address's host first, then <see cref="AmqpTransportOptions.Hosts"/>
    /// in order, so a client stays on its first node while it is up and fails over to the next one when it is not.
    /// </summary>
    public IEndpointResolver Resolver => new OrderedResolver(Endpoints);

    /// <summary>Creates the connection factory of a client or server: automatic recovery of connection, channels, consumers and topology.</summary>
    public ConnectionFactory CreateFactory(AmqpTransportOptions options, TimeSpan connectTimeout, string clientName) => new()
    {
        UserName = UserName,
        Password = Password,
        VirtualHost = VirtualHost,
        AutomaticRecoveryEnabled = true,
        TopologyRecoveryEnabled = true,
        NetworkRecoveryInterval = options.RecoveryInterval,
        RequestedHeartbeat = options.Heartbeat,
        RequestedConnectionTimeout = connectTimeout,
        ClientProvidedName = clientName,
        MaxInboundMessageBodySize = MaxInboundBodySize,
    };

    /// <summary>The largest body either side reads (the broker's own default limit); smaller limits are checked per message.</summary>
    public const uint MaxInboundBodySize = 128 * 1024 * 1024;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Endpoints[0].HostName}:{Endpoints[0].Port} vhost '{VirtualHost}' name '{Name}'");

    private sealed class OrderedResolver(IReadOnlyList<AmqpTcpEndpoint> endpoints) : IEndpointResolver
    {
        public IEnumerable<AmqpTcpEndpoint> All() => endpoints;
    }

    private static AmqpTcpEndpoint Endpoint(string host, int port, bool secure, AmqpTlsOptions tls)
    {
        var ssl = new SslOption { Enabled = secure, ServerName = tls.ServerName ?? host, Version = SslProtocols.None };
        if (tls.ClientCertificatePath is { } path)
        {
            ssl.CertPath = path;
            ssl.CertPassphrase = tls.ClientCertificatePassword;
        }

        if (tls.CertificateAuthorityPath is { } authorityPath)
        {
            // The broker's chain must end in this authority, not in the system's trust store; the name is checked as before.
            var authority = TlsCertificates.LoadPublic(authorityPath);
            ssl.CertificateValidationCallback = (_, certificate, _, errors) =>
                TlsCertificates.Validate(certificate, errors, checkName: true, [], authority, X509RevocationMode.NoCheck) is null;
        }

        return new AmqpTcpEndpoint(host, port, ssl, MaxInboundBodySize);
    }

    private static IEnumerable<KeyValuePair<string, string>> Query(Uri address)
    {
        var query = address.Query.TrimStart('?');
        if (query.Length == 0)
        {
            yield break;
        }

        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            var value = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..]);
            yield return new(key, value);
        }
    }
}
