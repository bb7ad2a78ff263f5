using System.Net;
using System.Net.Sockets;

namespace Ipc.TestUtils;

/// <summary>Fresh addresses for tests: socket paths in a private temporary folder, free loopback ports, unique pipe names.</summary>
public static class TestAddresses
{
    private static readonly Lazy<string> s_folder = new(CreateFolder);

    /// <summary>Gets a folder private to this test run for socket files (short, to stay under the 108-byte socket path limit).</summary>
    public static string Folder => s_folder.Value;

    /// <summary>Returns a path for a socket file that does not exist yet.</summary>
    public static string NewSocketPath() => Path.Combine(Folder, Guid.NewGuid().ToString("N")[..12] + ".sock");

    /// <summary>Returns a <c>unix://</c> address of a new socket path.</summary>
    public static string NewUnixAddress() => "unix://" + NewSocketPath();

    /// <summary>Returns a <c>tcp://127.0.0.1:port</c> address with a port that was free a moment ago.</summary>
    public static string NewTcpAddress() => $"tcp://127.0.0.1:{FreePort()}";

    /// <summary>Returns a <c>pipe://</c> address with a unique name.</summary>
    public static string NewPipeAddress() => $"pipe://ipc-test-{Guid.NewGuid():N}";

    private static string CreateFolder()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-tests-").FullName;

        // The folder and any socket file a test left in it go when the test process ends, however it ends: a test host
        // is sometimes stopped without running its exit handlers, so a small shell waits for this process and removes it.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        if (!OperatingSystem.IsWindows())
        {
            var start = new System.Diagnostics.ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "sh", "-c", $"while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 0.5; done; rm -rf '{folder}'" })
            {
                start.ArgumentList.Add(argument);
            }

            System.Diagnostics.Process.Start(start)?.Dispose();
        }

        return folder;
    }

    /// <summary>Returns a loopback TCP port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
