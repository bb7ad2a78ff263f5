using System.Net.Sockets;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Sockets;

/// <summary>What the Unix socket and TCP transports share: their options and the acceptor's loop over a listening socket.</summary>
internal abstract class SocketTransportBase : StreamTransport
{
    protected override StreamTransportOptions GetOptions(IpcTransportContext context) => SocketOptions(context);

    protected static SocketTransportOptions SocketOptions(IpcTransportContext context) =>
        context.Services.GetRequiredService<IOptionsMonitor<SocketTransportOptions>>().Get(context.EndpointName);

    /// <summary>Accepts connections on a bound, listening socket.</summary>
    protected abstract class SocketAcceptor : StreamAcceptor
    {
        protected Socket? Listener { get; set; }

        public override async ValueTask<Stream> AcceptAsync(CancellationToken cancellationToken)
        {
            var socket = await Listener!.AcceptAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                Configure(socket);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public override ValueTask DisposeAsync()
        {
            Listener?.Dispose();
            Release();
            return default;
        }

        /// <summary>Sets options on an accepted socket.</summary>
        protected virtual void Configure(Socket socket)
        {
        }

        /// <summary>Releases what the listener left behind (the socket file).</summary>
        protected virtual void Release()
        {
        }
    }
}
