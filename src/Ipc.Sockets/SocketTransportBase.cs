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

    /// <summary>A plain socket reads on a dedicated reader when the options ask for one; TLS reads asynchronously.</summary>
    protected override DuplexConnection CreateConnection(Stream stream, IpcTransportContext context)
    {
        var options = SocketOptions(context);
        return options.DedicatedReaders && stream is NetworkStream network
            ? DuplexConnection.CreateWithDedicatedReader(stream, IsReadable(network.Socket), options.ReaderSpin)
            : DuplexConnection.Create(stream);
    }

    /// <summary>
    /// Connects with a blocking call on a thread of its own. A socket that never saw an asynchronous operation stays in
    /// blocking mode, so the connection's dedicated reader (<see cref="StreamTransportOptions.DedicatedReaders"/>) is woken
    /// by the kernel directly, with no event loop in between. A cancelled connect closes the socket, which ends the call.
    /// </summary>
    protected static async Task ConnectBlockingAsync(Socket socket, Action<Socket> connect, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var abort = cancellationToken.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket);
        try
        {
            await Task.Factory.StartNew(
                () => connect(socket), CancellationToken.None, TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The connect was cancelled.", ex, cancellationToken);
        }
    }

    /// <summary>A poll with no wait: bytes arrived, or the socket was closed or failed (the read that follows reports it).</summary>
    private static Func<bool> IsReadable(Socket socket) => () =>
    {
        try
        {
            return socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            return true;
        }
    };

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
