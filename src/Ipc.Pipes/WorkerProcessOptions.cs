using System.ComponentModel.DataAnnotations;

namespace Ipc.Pipes;

/// <summary>
/// How a parent starts the worker process of a <c>worker://name</c> endpoint (<c>Ipc:Endpoints:&lt;name&gt;:Worker</c>).
/// The parent starts it on the first call, talks to it over a pair of anonymous pipes, and starts it again on the next
/// call if it died. The worker serves the same endpoint name with <c>AddWorkerServer</c> and stops when the parent closes the pipes.
/// </summary>
public sealed class WorkerProcessOptions
{
    /// <summary>The configuration section name under <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "Worker";

    /// <summary>The environment variable through which the parent hands the worker its two pipe handles.</summary>
    public const string PipesEnvironmentVariable = "IPC_WORKER_PIPES";

    /// <summary>Gets or sets the program to start (for a .NET worker: <c>dotnet</c>, with the worker's dll as first argument, or the apphost).</summary>
    /// <value>Required; there is no default.</value>
    public string? FileName { get; set; }

    /// <summary>Gets the command-line arguments, each passed as it is (no shell quoting).</summary>
    /// <value>The default value is empty.</value>
    public IList<string> Arguments { get; } = [];

    /// <summary>Gets or sets the worker's working directory.</summary>
    /// <value>The default value is <see langword="null"/>: the parent's.</value>
    public string? WorkingDirectory { get; set; }

    /// <summary>Gets environment variables set for the worker, on top of the parent's.</summary>
    /// <value>The default value is empty.</value>
    public IDictionary<string, string> Environment { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Gets or sets how long the parent waits for the worker to exit once the pipes are closed, before killing it.</summary>
    /// <value>The default value is 5 seconds; at most 1 hour.</value>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ExitTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
