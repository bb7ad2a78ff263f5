using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Sockets;

/// <summary>
/// TCP: <c>tcp://host:port</c>, with no-delay and keep-alive, and TLS or mutual TLS when <see cref="SocketTlsOptions.Enabled"/>.
/// A server binds the address's host (an IP address, a name resolved once at start, or <c>0.0.0.0</c>/<c>[::]</c> for every interface).
/// </summary>
internal sealed class TcpTransport : SocketTransportBase
{
    public const string Scheme = "tcp";

    private static readonly string[] s_schemes = [Scheme];

    public override string Name => "Tcp";

    public override IReadOnlyList<string> Schemes => s_schemes;

    public override TransportCapabilities GetCapabilities(Uri address) => StreamCapabilities | TransportCapabilities.CrossMachine;

    public override string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (string.IsNullOrEmpty(address.Host))
        {
            return "name the host, for example tcp://127.0.0.1:5000.";
        }

        if (!string.IsNullOrEmpty(address.UserInfo))
        {
            return "a tcp:// address has no user name or password, as nothing would send them; remove the part before '@'. To let only known clients in, turn on TLS with client certificates (Sockets:Tls).";
        }

        if (address.Port is <= 0 or > 65535)
        {
            return "give the port, for example tcp://127.0.0.1:5000.";
        }

        return address.AbsolutePath is "/" or "" ? null : "a tcp:// address has only a host and a port, no path.";
    }

    protected override async ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var options = SocketOptions(context);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Configure(socket, options);
            if (options.DedicatedReaders && !options.Tls.Enabled)
            {
                // The name is resolved asynchronously; the connect blocks on a thread of its own until it is made, refused or
                // cancelled (the attempt timeout ends it).
                var addresses = await Dns.GetHostAddressesAsync(context.Address.DnsSafeHost, cancellationToken).ConfigureAwait(false);
                var port = context.Address.Port;
                await ConnectBlockingAsync(socket, s => s.Connect(addresses, port), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(context.Address.DnsSafeHost, context.Address.Port, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw NoServerListening(context, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (options.Tls.Enabled)
        {
            try
            {
                stream = await new SocketTls(options.Tls, context.EndpointName, context.TimeProvider, Logger(context)).AuthenticateAsClientAsync(stream, context.Address.DnsSafeHost, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException && !cancellationToken.IsCancellationRequested)
            {
                throw new IpcException(
                    ex is AuthenticationException ? IpcErrorCode.Unauthorized : IpcErrorCode.Unavailable,
                    $"The TLS handshake with {context.DisplayAddress} (endpoint '{context.EndpointName}') failed: {ex.Message} Both sides must enable TLS (Sockets:Tls:Enabled), and each must accept the other's certificate.",
                    ex)
                {
                    Endpoint = context.EndpointName,
                    NotAccepted = true,
                };
            }
        }

        return stream;
    }

    protected override StreamAcceptor CreateAcceptor(IpcTransportContext context) => new Acceptor(context, SocketOptions(context));

    private static ILogger Logger(IpcTransportContext context) =>
        (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Sockets");

    private static void Configure(Socket socket, SocketTransportOptions options)
    {
        socket.NoDelay = options.NoDelay;
        if (options.KeepAlive)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)options.KeepAliveTime.TotalSeconds);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)options.KeepAliveInterval.TotalSeconds);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.KeepAliveRetryCount);
        }
    }

    private sealed class Acceptor(IpcTransportContext context, SocketTransportOptions options) : SocketAcceptor
    {
        private readonly ILogger _logger = Logger(context);
        private readonly SocketTls? _tls = options.Tls.Enabled ? new SocketTls(options.Tls, context.EndpointName, context.TimeProvider, Logger(context)) : null;
        private Ipc.Tls.CertificateFile? _certificate;

        public override async ValueTask StartAsync(CancellationToken cancellationToken)
        {
            _certificate = _tls?.LoadServerCertificate(context.EndpointName);
            var endpoint = await ResolveAsync(context.Address, cancellationToken).ConfigureAwait(false);
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
                {
                    socket.DualMode = true;
                }

                socket.Bind(endpoint);
                socket.Listen(options.ListenBacklog);
                Listener = socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                var why = ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                    ? $"the address {endpoint} is already in use. Stop the server that holds it, or choose another port."
                    : $"binding {endpoint} failed: {ex.Message}";
                throw new IpcException(IpcErrorCode.Unavailable, $"Endpoint '{context.EndpointName}' cannot listen on {context.DisplayAddress}: {why}", ex)
                {
                    Endpoint = context.EndpointName,
                };
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        /// <summary>The client's <c>ip:port</c> (an IPv4 client of a dual-mode socket as IPv4), once per connection.</summary>
        public override string? GetRemoteAddress(Stream stream) =>
            ((NetworkStream)stream).Socket.RemoteEndPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: true } mapped
                ? new IPEndPoint(mapped.Address.MapToIPv4(), mapped.Port).ToString()
                : ((NetworkStream)stream).Socket.RemoteEndPoint?.ToString();

        public override async ValueTask<Stream> AuthenticateAsync(Stream stream, CancellationToken cancellationToken)
        {
            if (_tls is null)
            {
                return stream;
            }

            // A TLS client starts with a handshake record (0x16); a client without TLS starts with the Ipc preface. Tell it
            // why in plain text, instead of failing a handshake it never began.
            var first = new byte[1];
            var read = await ((NetworkStream)stream).Socket.ReceiveAsync(first, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
            if (read == 1 && first[0] != 0x16)
            {
                throw Refuse(stream, "the client did not start TLS, and this server requires it. Enable Sockets:Tls on the client too.");
            }

            var (ssl, refusal) = await _tls.AuthenticateAsServerAsync(stream, _certificate!.CurrentContext, cancellationToken).ConfigureAwait(false);
            if (refusal is null)
            {
                return ssl;
            }

            // The details (which authority or thumbprints this server trusts) are for the server's log: the client is not
            // authenticated, so it is told only that its certificate was not accepted.
            Log.ClientCertificateRefused(_logger, context.EndpointName, context.DisplayAddress, refusal);
            throw Refuse(ssl, ssl.RemoteCertificate is { } presented
                ? $"its client certificate {presented.Subject} is not accepted by this server"
                : "it presented no client certificate, and this server requires one");
        }

        protected override void Configure(Socket socket) => TcpTransport.Configure(socket, options);

        private static async Task<IPEndPoint> ResolveAsync(Uri address, CancellationToken cancellationToken)
        {
            if (IPAddress.TryParse(address.DnsSafeHost, out var ip))
            {
                return new IPEndPoint(ip, address.Port);
            }

            var addresses = await Dns.GetHostAddressesAsync(address.DnsSafeHost, cancellationToken).ConfigureAwait(false);
            var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
                ?? throw new IpcException(IpcErrorCode.Unavailable, $"The host of {address} resolves to no address.");
            return new IPEndPoint(chosen, address.Port);
        }
    }
}
