using System.Diagnostics;

namespace Ipc.TestUtils;

/// <summary>
/// The conformance server of tests/Ipc.TestServer running in a process of its own. Disposing it closes its standard
/// input, so it stops as a server should (removing its socket or pipe file); it is killed only if it does not exit.
/// </summary>
public sealed class TestServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private TestServerProcess(Process process) => _process = process;

    /// <summary>
    /// The environment variable that turns off the runtime's diagnostic endpoints in a server process: a process a test kills
    /// (SIGKILL) cannot remove its <c>dotnet-diagnostic-*</c> socket and <c>clr-debug-pipe-*</c> files from the temporary
    /// folder, and no test needs them.
    /// </summary>
    public static readonly KeyValuePair<string, string> NoDiagnostics = new("DOTNET_EnableDiagnostics", "0");

    /// <summary>Gets the path of Ipc.TestServer.dll, copied next to the test assembly by its project reference.</summary>
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "Ipc.TestServer.dll");

    /// <summary>Gets the <c>dotnet</c> host running this test, to start the server with.</summary>
    public static string DotNet => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    /// <summary>Starts the server on <paramref name="address"/> and waits until it listens.</summary>
    public static Task<TestServerProcess> StartAsync(string address, TimeSpan timeout) => StartAsync([address], timeout);

    /// <summary>Starts Ipc.TestServer with <paramref name="arguments"/> (see its Program.cs) and waits until it says it is ready.</summary>
    public static async Task<TestServerProcess> StartAsync(IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(DotNet)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[NoDiagnostics.Key] = NoDiagnostics.Value;
        var process = Process.Start(start)!;
        var server = new TestServerProcess(process);
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(timeout);
            if (line != "ready")
            {
                throw new InvalidOperationException($"The test server did not start: {line} {await process.StandardError.ReadToEndAsync()}");
            }

            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the server, as a crash would: it does not stop, close its connections or remove its socket file.</summary>
    public async Task KillAsync(TimeSpan timeout)
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(timeout);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
        finally
        {
            _process.Dispose();
        }
    }
}
