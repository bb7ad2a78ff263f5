using System.Diagnostics;

namespace Tour;

/// <summary>A Tour server in its own process: this program started with <c>--serve &lt;address&gt;</c>.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process) => _process = process;

    public static async Task<ServerProcess> StartAsync(string address)
    {
        var entry = typeof(ServerProcess).Assembly.Location;
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (!Path.GetFileNameWithoutExtension(start.FileName).Equals("Tour", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(entry); // running under the dotnet host
        }

        start.ArgumentList.Add("--serve");
        start.ArgumentList.Add(address);
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the server process.");
        var server = new ServerProcess(process);
        try
        {
            var ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (ready != "READY")
            {
                throw new InvalidOperationException($"The server process for {address} did not start (it said '{ready}').");
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }
}
