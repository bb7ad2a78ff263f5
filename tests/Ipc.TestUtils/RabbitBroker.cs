using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ipc.TestUtils;

/// <summary>
/// Private RabbitMQ nodes for tests, started from the installed <c>rabbitmq-server</c> package: each node on loopback with
/// its own AMQP and distribution ports, node name and data folder, under one temporary folder with its own epmd, HOME and
/// Erlang cookie. Several nodes form a cluster. Disposing stops every node and epmd and deletes the folder.
/// </summary>
public sealed class RabbitBroker : IAsyncDisposable
{
    /// <summary>The environment variable that names a running broker to use instead of a private node (<c>amqp://user:pass@host:port/vhost</c>).</summary>
    public const string UriVariable = "IPC_AMQP_URI";

    private const string ServerPath = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private const string CtlPath = "/usr/lib/rabbitmq/bin/rabbitmqctl";

    private static readonly Lazy<Task<RabbitBroker>> s_shared = new(StartSharedAsync);

    private readonly string _base;
    private readonly Dictionary<string, string> _common;
    private readonly Process? _epmd;
    private readonly List<Node> _nodes = [];

    private RabbitBroker(string basePath, Dictionary<string, string> common, Process? epmd)
    {
        _base = basePath;
        _common = common;
        _epmd = epmd;
    }

    /// <summary>Gets the AMQP port of each node.</summary>
    public IReadOnlyList<int> Ports => _nodes.Select(n => n.Port).ToList();

    /// <summary>Gets the TLS (<c>amqps://</c>) port of node <paramref name="index"/>; the broker must have been started with a <see cref="RabbitTls"/>.</summary>
    public int TlsPort(int index = 0) => _nodes[index].TlsPort ?? throw new InvalidOperationException("The broker was started without TLS.");

    /// <summary>Gets the process id of node <paramref name="index"/>'s Erlang VM (to read its processor time); <see langword="null"/> while it is stopped.</summary>
    public int? ProcessId(int index = 0) => _nodes[index].BeamPid;

    /// <summary>Gets the address of node <paramref name="index"/> (the first by default), guest login, default virtual host.</summary>
    public string Uri(int index = 0) => string.Create(CultureInfo.InvariantCulture, $"amqp://guest:guest@127.0.0.1:{_nodes[index].Port}/");

    /// <summary>Gets the <c>host:port</c> of node <paramref name="index"/>, as <c>Hosts</c> takes it.</summary>
    public string HostAndPort(int index) => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{_nodes[index].Port}");

    /// <summary>
    /// Gets the address of the broker the tests share: <see cref="UriVariable"/> when set, otherwise a private node
    /// started once and stopped when the test process exits.
    /// </summary>
    public static async Task<string> SharedUriAsync()
    {
        if (Environment.GetEnvironmentVariable(UriVariable) is { Length: > 0 } uri)
        {
            return new Uri(uri).AbsolutePath.Length > 1 || uri.EndsWith('/') ? uri : uri + "/";
        }

        return (await s_shared.Value.ConfigureAwait(false)).Uri();
    }

    /// <summary>
    /// Starts <paramref name="nodes"/> private nodes; two or more form a cluster. With <paramref name="tls"/>, each node also
    /// listens for TLS on a port of its own (<see cref="TlsPort"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">rabbitmq-server is not installed; the message says how to get a broker.</exception>
    public static async Task<RabbitBroker> StartAsync(int nodes = 1, RabbitTls? tls = null)
    {
        try
        {
            return await StartOnceAsync(nodes, tls);
        }
        catch (NodeStartException first)
        {
            // Its ports are picked free before the node binds them, and on a busy machine another process may take one in
            // between, which ends the node's boot: once more, on new ports. A second failure is reported with both.
            try
            {
                return await StartOnceAsync(nodes, tls);
            }
            catch (NodeStartException second)
            {
                throw new InvalidOperationException($"{second.Message}{Environment.NewLine}An earlier start on other ports failed too: {first.Message}", second);
            }
        }
    }

    private static async Task<RabbitBroker> StartOnceAsync(int nodes, RabbitTls? tls)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(ServerPath))
        {
            throw new InvalidOperationException(
                $"The AMQP tests need RabbitMQ: {ServerPath} is missing. Install it with 'apt-get install -y rabbitmq-server' (eng/test.sh does, "
                + $"after making /usr/sbin/policy-rc.d answer 101 so the system broker does not start), or set {UriVariable}=amqp://user:password@host:5672/ "
                + "to a running broker (the broker restart and cluster tests still need the package).");
        }

        // Memory-backed when the machine has /dev/shm: a node's data survives the node's restarts all the same, and a
        // busy test machine's disk does not decide how long a confirm takes.
        var root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var basePath = Path.Combine(root, "ipc-tests-rabbit-" + Guid.NewGuid().ToString("N")[..8]);
        var home = Path.Combine(basePath, "home");
        Directory.CreateDirectory(home);
        var cookie = Path.Combine(home, ".erlang.cookie");
        await File.WriteAllTextAsync(cookie, "IPCTESTS" + Guid.NewGuid().ToString("N").ToUpperInvariant());
        File.SetUnixFileMode(cookie, UnixFileMode.UserRead);
        var emptyEnv = Path.Combine(basePath, "empty-env.conf");
        await File.WriteAllTextAsync(emptyEnv, string.Empty);
        var epmdPort = FreePort();
        var ctlPort = FreePort();
        var common = new Dictionary<string, string>
        {
            ["HOME"] = home,
            ["ERL_EPMD_PORT"] = epmdPort.ToString(CultureInfo.InvariantCulture),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_CONF_ENV_FILE"] = emptyEnv,
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_CTL_DIST_PORT_MIN"] = ctlPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_CTL_DIST_PORT_MAX"] = (ctlPort + 10).ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
        };

        var epmdStart = new ProcessStartInfo("epmd") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-port", epmdPort.ToString(CultureInfo.InvariantCulture), "-address", "127.0.0.1" })
        {
            epmdStart.ArgumentList.Add(argument);
        }

        var broker = new RabbitBroker(basePath, common, Process.Start(epmdStart));
        try
        {
            await WaitForPortAsync(epmdPort, TimeSpan.FromSeconds(10));
            var prefix = "ipct" + Guid.NewGuid().ToString("N")[..6];
            for (var i = 0; i < nodes; i++)
            {
                broker._nodes.Add(broker.CreateNode($"{prefix}{i}@localhost", i, tls));
            }

            await Task.WhenAll(broker._nodes.Select(broker.StartNodeAsync));
            for (var i = 1; i < nodes; i++)
            {
                var node = broker._nodes[i].Name;
                await broker.CtlAsync(node, "stop_app");
                await broker.CtlAsync(node, "join_cluster", broker._nodes[0].Name);
                await broker.CtlAsync(node, "start_app");
            }

            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops node <paramref name="index"/> (its data stays, so it comes back with its messages).</summary>
    public async Task StopNodeAsync(int index)
    {
        var node = _nodes[index];
        await CtlAsync(node.Name, "stop");
        if (node.Process is { } process)
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            process.Dispose();
            node.Process = null;
        }

        await WaitBeamExitAsync(node);
    }

    /// <summary>Starts node <paramref name="index"/> again, on its data folder, and waits until it serves AMQP.</summary>
    public Task StartNodeAsync(int index) => StartNodeAsync(_nodes[index]);

    /// <summary>Runs rabbitmqctl against node <paramref name="index"/> and returns its output.</summary>
    public Task<string> CtlAsync(int index, params string[] arguments) => CtlAsync(_nodes[index].Name, arguments);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            if (node.Process is { HasExited: false } process)
            {
                Signal(process.Id, "TERM");
                if (!await WaitExitAsync(process, TimeSpan.FromSeconds(15)))
                {
                    if (node.BeamPid is { } beam)
                    {
                        Signal(beam, "KILL");
                    }

                    process.Kill(entireProcessTree: true);
                }

                process.Dispose();
            }

            await WaitBeamExitAsync(node);
        }

        if (_epmd is { } epmd)
        {
            if (!epmd.HasExited)
            {
                epmd.Kill();
                await WaitExitAsync(epmd, TimeSpan.FromSeconds(5));
            }

            epmd.Dispose();
        }

        try
        {
            Directory.Delete(_base, recursive: true);
        }
        catch (IOException)
        {
            // A node still writing its log: the folder is in the temporary directory and named ipc-tests-*.
        }
    }

    private static async Task<RabbitBroker> StartSharedAsync()
    {
        var broker = await StartAsync(1).ConfigureAwait(false);
        broker.StopWhenProcessExits(Environment.ProcessId);
        return broker;
    }

    /// <summary>
    /// Leaves a watchdog behind that stops the nodes and epmd and deletes the folder once process <paramref name="pid"/>
    /// has exited, however it exits (a test host is often ended without running its exit handlers).
    /// </summary>
    private void StopWhenProcessExits(int pid)
    {
        var nodes = string.Join(' ', _nodes.Where(n => n.Process is not null).Select(n => n.Process!.Id.ToString(CultureInfo.InvariantCulture)));
        var beams = string.Join(' ', _nodes.Where(n => n.BeamPid is not null).Select(n => n.BeamPid!.Value.ToString(CultureInfo.InvariantCulture)));
        // The beams are waited on by the pids read when they started: a stopping node removes its pid file before it
        // writes its last files, so a folder removed before the beam has exited comes back.
        // Output to /dev/null: tail -f ends when its output is a pipe nobody reads, and this process reads none.
        var script = $$"""
            exec </dev/null >/dev/null 2>&1
            tail --pid={{pid}} -f /dev/null
            kill -TERM {{nodes}} 2>/dev/null
            for b in {{beams}}; do
              timeout 15 tail --pid="$b" -f /dev/null
              kill -KILL "$b" 2>/dev/null
            done
            kill {{_epmd?.Id.ToString(CultureInfo.InvariantCulture) ?? string.Empty}} 2>/dev/null
            rm -rf "{{_base}}"
            """;
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "sh", "-c", script })
        {
            start.ArgumentList.Add(argument);
        }

        Process.Start(start)?.Dispose();
    }

    private Node CreateNode(string name, int index, RabbitTls? tls)
    {
        var folder = Path.Combine(_base, "n" + index.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "enabled_plugins"), "[].");
        var config = "loopback_users = none\n";
        int? tlsPort = null;
        if (tls is not null)
        {
            tlsPort = FreePort();
            config += string.Create(CultureInfo.InvariantCulture, $"listeners.ssl.default = {tlsPort}\n")
                + $"ssl_options.cacertfile = {tls.AuthorityPath}\n"
                + $"ssl_options.certfile = {tls.CertificatePath}\n"
                + $"ssl_options.keyfile = {tls.KeyPath}\n";
            if (tls.RequireClientCertificate)
            {
                config += "ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n";
            }
        }

        File.WriteAllText(Path.Combine(folder, "rabbitmq.conf"), config);
        return new Node(name, FreePort(), FreePort(), folder) { TlsPort = tlsPort };
    }

    private async Task StartNodeAsync(Node node)
    {
        var start = new ProcessStartInfo(ServerPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (key, value) in _common)
        {
            start.Environment[key] = value;
        }

        start.Environment["RABBITMQ_NODENAME"] = node.Name;
        start.Environment["RABBITMQ_NODE_PORT"] = node.Port.ToString(CultureInfo.InvariantCulture);
        start.Environment["RABBITMQ_DIST_PORT"] = node.DistPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(node.Folder, "mnesia");
        start.Environment["RABBITMQ_LOG_BASE"] = Path.Combine(node.Folder, "log");
        start.Environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(node.Folder, "enabled_plugins");
        start.Environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(node.Folder, "rabbitmq.conf");
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        node.Process = process;
        try
        {
            await WaitForPortAsync(node.Port, TimeSpan.FromSeconds(90), process);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"RabbitMQ node {node.Name} did not open port {node.Port} within 90 s; see {Path.Combine(node.Folder, "log")}.");
        }

        try
        {
            await CtlAsync(node.Name, "await_startup");
        }
        catch (InvalidOperationException ex)
        {
            throw new NodeStartException($"{ex.Message}{Environment.NewLine}The end of its log:{Environment.NewLine}{LogTail(node)}", ex);
        }

        if (node.TlsPort is { } tlsPort)
        {
            try
            {
                await WaitForPortAsync(tlsPort, TimeSpan.FromSeconds(30), process);
            }
            catch (TimeoutException)
            {
                throw new InvalidOperationException($"RabbitMQ node {node.Name} serves AMQP but did not open its TLS port {tlsPort} within 30 s; see {Path.Combine(node.Folder, "log")}.");
            }
        }

        // rabbitmq-server is a shell wrapper; the beam that writes the node's files has its own pid, which the node
        // writes to its pid file on start (and removes when it begins to stop, before it has finished writing).
        node.BeamPid = int.Parse((await File.ReadAllTextAsync(node.PidFile)).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>The last lines of a node's log files, read before its folder is removed.</summary>
    private static string LogTail(Node node)
    {
        try
        {
            var lines = Directory.EnumerateFiles(Path.Combine(node.Folder, "log"), "*.log").SelectMany(File.ReadLines).TakeLast(30);
            return string.Join(Environment.NewLine, lines);
        }
        catch (IOException ex)
        {
            return $"(its log could not be read: {ex.Message})";
        }
    }

    private async Task<string> CtlAsync(string node, params string[] arguments)
    {
        var start = new ProcessStartInfo(CtlPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in _common)
        {
            start.Environment[key] = value;
        }

        start.ArgumentList.Add("-n");
        start.ArgumentList.Add(node);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl -n {node} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await output} {await error}");
        }

        return await output;
    }

    private static async Task WaitForPortAsync(int port, TimeSpan timeout, Process? process = null)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < timeout && process is not { HasExited: true })
            {
                await Task.Delay(100); // polling a port that is not open yet: there is no event to wait on
            }
            catch (SocketException ex)
            {
                throw new TimeoutException($"Port {port} did not open.", ex);
            }
        }
    }

    private static async Task WaitBeamExitAsync(Node node)
    {
        if (node.BeamPid is not { } beam)
        {
            return;
        }

        try
        {
            using var process = Process.GetProcessById(beam);
            if (!await WaitExitAsync(process, TimeSpan.FromSeconds(15)))
            {
                process.Kill();
                await WaitExitAsync(process, TimeSpan.FromSeconds(5));
            }
        }
        catch (ArgumentException)
        {
            // Gone already.
        }

        node.BeamPid = null;
    }

    private static async Task<bool> WaitExitAsync(Process process, TimeSpan timeout)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, pid.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false, RedirectStandardError = true });
        kill?.WaitForExit(5000);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A node did not finish its boot.</summary>
    private sealed class NodeStartException(string message, Exception inner) : InvalidOperationException(message, inner);

    private sealed class Node(string name, int port, int distPort, string folder)
    {
        public string Name { get; } = name;

        public int Port { get; } = port;

        public int DistPort { get; } = distPort;

        public int? TlsPort { get; init; }

        public string Folder { get; } = folder;

        public string PidFile => Path.Combine(Folder, "mnesia", Name + ".pid");

        public Process? Process { get; set; }

        public int? BeamPid { get; set; }
    }
}

/// <summary>
/// The TLS listener of a private node (<see cref="RabbitBroker.StartAsync"/>): PEM files of the authority (which also
/// validates client certificates), the node's certificate and its key (PKCS#8, as <see cref="TestCertificates"/> writes
/// it; Erlang's ssl reads it). With <paramref name="RequireClientCertificate"/> the node refuses a client without a
/// certificate of the authority (mutual TLS).
/// </summary>
public sealed record RabbitTls(string AuthorityPath, string CertificatePath, string KeyPath, bool RequireClientCertificate = false);
