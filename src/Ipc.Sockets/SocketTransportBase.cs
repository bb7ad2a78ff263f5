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

    /// <summary>
    /// Connects <paramref name="socket"/>. With dedicated readers the connect is a blocking call on the thread pool: a
    /// socket that never saw an asynchronous operation stays in blocking mode, so its reads wake the reader directly.
    /// </summary>
    protected static async ValueTask ConnectAsync(Socket socket, Func<Socket, CancellationToken, ValueTask> connectAsync, Action<Socket> connect, bool blocking, CancellationToken cancellationToken)
    {
        if (!blocking)
        {
            await connectAsync(socket, cancellationToken).ConfigureAwait(false);
            return;
        }

        cancellationToken.ThrowIfCancellationRequested();
        using var abort = cancellationToken.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket); // ends a blocked connect
        try
        {
            await Task.Run(() => connect(socket), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The connect was cancelled.", ex, cancellationToken);
        }
    }

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
