namespace Tour;

/// <summary>Where a row's server runs.</summary>
public enum ServerPlacement
{
    /// <summary>In the Tour's own process (transports that do not cross processes).</summary>
    InProcess,

    /// <summary>In a separate process: the Tour starts itself with <c>--serve &lt;address&gt;</c>.</summary>
    SeparateProcess,
}

/// <summary>One row of the Tour: a transport, the address that selects it, and where its server runs.</summary>
/// <param name="Transport">The transport's name.</param>
/// <param name="Address">The endpoint address; the only thing that differs between rows.</param>
/// <param name="Placement">Where the server runs.</param>
/// <param name="Precondition">Returns why the row cannot run on this machine (for example no broker reachable), or null.</param>
public sealed record TourRow(string Transport, string Address, ServerPlacement Placement, Func<Task<string?>>? Precondition = null);

/// <summary>The rows of the Tour. A transport adds its row here.</summary>
public static class TourRows
{
    public static IReadOnlyList<TourRow> All(string run) =>
    [
        new("InMemory", $"inmemory://tour-{run}", ServerPlacement.InProcess),
        new("Pipes", $"pipe://tour-{run}", ServerPlacement.SeparateProcess),
        new("UnixSocket", $"unix://{Path.Combine(Path.GetTempPath(), $"tour-{run}.sock")}", ServerPlacement.SeparateProcess),
        new("Tcp", $"tcp://127.0.0.1:{FreeTcpPort()}", ServerPlacement.SeparateProcess),
        new("SharedMemory", $"shm://tour-{run}", ServerPlacement.SeparateProcess),
        new("Grpc", $"grpc://127.0.0.1:{FreeTcpPort()}", ServerPlacement.SeparateProcess),
        new("Http", $"http://127.0.0.1:{FreeTcpPort()}/tour", ServerPlacement.SeparateProcess),
        new("Amqp", $"{AmqpBroker}?name=ipc-tour", ServerPlacement.SeparateProcess, AmqpBrokerMissingAsync),
    ];

    /// <summary>
    /// The broker of the Amqp row: <c>IPC_AMQP_URI</c> when set, else RabbitMQ's default port on this machine. Without
    /// its user name and password, which go in configuration (<see cref="AmqpLogin"/>), so that no password shows in the
    /// table or on a server process's command line.
    /// </summary>
    private static string AmqpBroker => BrokerUri is { } uri
        ? uri.GetComponents(UriComponents.AbsoluteUri & ~UriComponents.UserInfo, UriFormat.UriEscaped).TrimEnd('/') + "/"
        : "amqp://localhost:5672/";

    private static Uri? BrokerUri => Environment.GetEnvironmentVariable("IPC_AMQP_URI") is { Length: > 0 } uri ? new Uri(uri) : null;

    /// <summary>
    /// The login of <c>IPC_AMQP_URI</c> as configuration keys, which the Tour's client and servers (processes that inherit
    /// the variable) both add; none for the default broker, whose guest login is the transport's default.
    /// </summary>
    public static Dictionary<string, string?> AmqpLogin()
    {
        var login = new Dictionary<string, string?>();
        if (BrokerUri is { UserInfo.Length: > 0 } uri)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            login["Ipc:Transports:Amqp:UserName"] = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                login["Ipc:Transports:Amqp:Password"] = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }

        return login;
    }

    private static async Task<string?> AmqpBrokerMissingAsync()
    {
        var broker = new Uri(AmqpBroker);
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(broker.Host, broker.IsDefaultPort ? 5672 : broker.Port).WaitAsync(TimeSpan.FromSeconds(2));
            return null;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
        {
            return $"no AMQP broker at {broker.Host}:{(broker.IsDefaultPort ? 5672 : broker.Port)}; start RabbitMQ (apt-get install rabbitmq-server, or docker run -p 5672:5672 rabbitmq:3) or set IPC_AMQP_URI=amqp://user:password@host:5672/";
        }
    }

    private static int FreeTcpPort()
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return ((System.Net.IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
