using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Hosting;

namespace Ipc.TestUtils;

/// <summary>
/// The backlog the kernel gave a listening socket (how many connections may wait to be accepted), read with <c>ss</c> of
/// iproute2: the kernel reports it through sock_diag, and <c>ss</c> prints it as a listening socket's Send-Q.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class ListenBacklogs
{
    /// <summary>Gets what the transports' default backlog, 512, becomes: the kernel caps a backlog at net.core.somaxconn.</summary>
    public static int Default => Math.Min(512, int.Parse(File.ReadAllText("/proc/sys/net/core/somaxconn"), CultureInfo.InvariantCulture));

    /// <summary>
    /// Starts a server on a new address with the default backlog and one with a backlog of 7 (which
    /// <paramref name="backlog"/> sets), and checks that the backlogs <paramref name="backlogOf"/> reads of their listening
    /// sockets are the default (as the kernel caps it) and 7.
    /// </summary>
    public static async Task AssertReachesTheListeningSocketAsync(Func<string> newAddress, Func<int, Action<IIpcBuilder>> backlog, Func<Uri, Task<int>> backlogOf)
    {
        Xunit.Assert.True(Default > 7, $"net.core.somaxconn caps every backlog at {Default}, which leaves nothing to tell 7 from.");
        var servers = new List<(IHost Server, Uri Address)>();
        try
        {
            foreach (var configure in new[] { null, backlog(7) })
            {
                var address = newAddress();
                servers.Add((await TestIpc.StartServerAsync(address, configure), new Uri(address)));
            }

            Xunit.Assert.Equal(Default, await backlogOf(servers[0].Address));
            Xunit.Assert.Equal(7, await backlogOf(servers[1].Address));
        }
        finally
        {
            foreach (var (server, _) in servers)
            {
                await server.StopAsync().WaitAsync(TestIpc.Bound);
                server.Dispose();
            }
        }
    }

    /// <summary>Returns the backlog of the TCP socket listening on <paramref name="port"/>.</summary>
    public static Task<int> OfTcpAsync(int port) => ReadAsync("-Hltn", $"sport = :{port}");

    /// <summary>Returns the backlog of the Unix socket listening at <paramref name="path"/>.</summary>
    public static Task<int> OfUnixAsync(string path) => ReadAsync("-Hlxn", "src", path);

    /// <summary>Runs <c>ss</c>, which must list one listening socket: "[netid] LISTEN recv-q send-q local peer ...".</summary>
    private static async Task<int> ReadAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("ss") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process ss;
        try
        {
            ss = Process.Start(start)!;
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException("ss is not installed, which this test reads listening sockets' backlogs with: install iproute2 (apt-get install iproute2).", ex);
        }

        using (ss)
        {
            var output = ss.StandardOutput.ReadToEndAsync();
            var error = ss.StandardError.ReadToEndAsync();
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            try
            {
                await ss.WaitForExitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                ss.Kill();
                throw new TimeoutException($"ss {string.Join(' ', arguments)} did not finish within {TestIpc.Bound.TotalSeconds} s.");
            }

            Xunit.Assert.True(ss.ExitCode == 0, $"ss {string.Join(' ', arguments)} exited with {ss.ExitCode}: {await error}");
            var rows = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Xunit.Assert.True(rows.Length == 1, $"ss {string.Join(' ', arguments)} listed {rows.Length} listening sockets, not one: {string.Join(" | ", rows)}");
            var fields = rows[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(fields[Array.IndexOf(fields, "LISTEN") + 2], CultureInfo.InvariantCulture);
        }
    }
}
