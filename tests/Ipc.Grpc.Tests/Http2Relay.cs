using System.Net;
using System.Net.Sockets;

namespace Ipc.Grpc.Tests;

/// <summary>
/// A test helper: a TCP relay on loopback between an HTTP/2 client and a server on another port. It passes on what each
/// side sends, frame by frame, and notes each side's first keep-alive PING and whether that side ended a connection; it
/// can swallow one side's keep-alive PINGs, so that they go unanswered.
/// </summary>
internal sealed class Http2Relay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _serverPort;
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _pumps = [];
    private readonly Task _accepting;
    private bool _disposed;

    public Http2Relay(int serverPort, bool dropClientPings = false, bool dropServerPings = false)
    {
        _serverPort = serverPort;
        Client = new Side(dropClientPings);
        Server = new Side(dropServerPings);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>Gets the address through the relay, for a client.</summary>
    public string Address => $"grpc://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Gets what the client side did.</summary>
    public Side Client { get; }

    /// <summary>Gets what the server side did.</summary>
    public Side Server { get; }

    public async ValueTask DisposeAsync()
    {
        lock (_sockets)
        {
            _disposed = true;
            _sockets.ForEach(s => s.Dispose());
        }

        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_pumps);
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptSocketAsync();
                var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                client.NoDelay = true;
                lock (_sockets)
                {
                    if (_disposed)
                    {
                        client.Dispose();
                        server.Dispose();
                        return;
                    }

                    _sockets.Add(client);
                    _sockets.Add(server);
                }

                await server.ConnectAsync(IPAddress.Loopback, _serverPort);
                var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_sockets)
                {
                    _pumps.Add(PumpAsync(client, server, Client, closed));
                    _pumps.Add(PumpAsync(server, client, Server, closed));
                }
            }
        }
        catch (Exception ex) when (Volatile.Read(ref _disposed) && ex is SocketException or ObjectDisposedException)
        {
            // The relay was disposed: it stopped listening, which ends the accept loop.
        }
    }

    /// <summary>Passes on the frames <paramref name="from"/> sends until it ends; then ends the connection on both sides.</summary>
    private async Task PumpAsync(Socket from, Socket to, Side side, TaskCompletionSource closed)
    {
        try
        {
            using var input = new NetworkStream(from, ownsSocket: false);
            using var output = new NetworkStream(to, ownsSocket: false);
            if (side == Client)
            {
                var preface = new byte[Http2Frames.Preface.Length];
                await input.ReadExactlyAsync(preface);
                await output.WriteAsync(preface);
            }

            while (true)
            {
                var frame = await Http2Frames.ReadAsync(input);
                if (frame.Type == Http2Frames.GoAway)
                {
                    side.Ended.TrySetResult();
                }
                else if (frame.IsKeepAlivePing)
                {
                    side.Pinged.TrySetResult();
                    if (side.DropPings)
                    {
                        continue;
                    }
                }

                await output.WriteAsync((byte[])[.. frame.Header, .. frame.Payload]);
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
        {
            // This side closed the connection, or the relay closed it: either way the pump is over, as noted below.
        }

        // The first side to close the connection closed it itself; the other then sees the relay close it.
        lock (_sockets)
        {
            if (!closed.Task.IsCompleted && !_disposed)
            {
                side.Ended.TrySetResult();
            }

            closed.TrySetResult();
            from.Dispose();
            to.Dispose();
        }
    }

    /// <summary>One side of the relayed connections.</summary>
    internal sealed class Side(bool dropPings)
    {
        /// <summary>Gets a value indicating whether the relay swallows this side's keep-alive PINGs.</summary>
        public bool DropPings { get; } = dropPings;

        /// <summary>Gets a source set when this side sends its first keep-alive PING.</summary>
        public TaskCompletionSource Pinged { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Gets a source set when this side ends a connection: it sends GOAWAY, or closes the connection first.</summary>
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
