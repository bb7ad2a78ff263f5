using System.ComponentModel.DataAnnotations;
using Ipc.Transports.Streams;

namespace Ipc.Sockets;

/// <summary>
/// The options of the socket transports (<c>unix://</c> and <c>tcp://</c>), bound from <c>Ipc:Transports:Sockets</c> and
/// then <c>Ipc:Endpoints:&lt;name&gt;:Sockets</c>, per endpoint.
/// </summary>
public sealed class SocketTransportOptions : StreamTransportOptions
{
    /// <summary>The configuration section name under <c>Ipc:Transports</c> and <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "Sockets";

    /// <summary>Gets or sets the permissions of the socket file a Unix socket server creates. Only the owner can connect by default.</summary>
    /// <value>The default value is <see cref="UnixFileMode.UserRead"/> | <see cref="UnixFileMode.UserWrite"/> (0600). In configuration: <c>"UserRead, UserWrite, GroupRead, GroupWrite"</c>.</value>
    public UnixFileMode UnixSocketFileMode { get; set; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Gets or sets a value indicating whether a Unix socket server refuses peers whose user id differs from its own (checked with SO_PEERCRED; Linux only).</summary>
    /// <value>The default value is <see langword="false"/>: the file mode decides who may connect.</value>
    public bool RequireSameUser { get; set; }

    /// <summary>Gets or sets where a server with <see cref="RequireSameUser"/> reads the user id it admits (this process's effective one when unset); tests name another to see a peer refused.</summary>
    internal Func<uint>? AdmittedUserId { get; set; }

    /// <summary>Gets or sets a value indicating whether TCP sockets send small frames at once (Nagle's algorithm off).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool NoDelay { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether TCP sockets send keep-alive probes, so a peer that vanished is noticed.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool KeepAlive { get; set; } = true;

    /// <summary>Gets or sets how long a TCP connection is idle before the first keep-alive probe.</summary>
    /// <value>The default value is 30 seconds. At least 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan KeepAliveTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the time between keep-alive probes that get no answer.</summary>
    /// <value>The default value is 5 seconds. At least 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets how many keep-alive probes may go unanswered before the connection is dropped as lost, so a vanished
    /// peer is noticed after <see cref="KeepAliveTime"/> + <see cref="KeepAliveRetryCount"/> × <see cref="KeepAliveInterval"/>
    /// (45 seconds by default) instead of after the system's own count (9 on Linux, 10 on Windows).
    /// </summary>
    /// <value>The default value is 3. From 1 to 127.</value>
    [Range(1, 127)]
    public int KeepAliveRetryCount { get; set; } = 3;

    /// <summary>Gets or sets how many connections may wait to be accepted.</summary>
    /// <value>The default value is 512.</value>
    [Range(1, 65535)]
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Gets the TLS settings of <c>tcp://</c> endpoints.</summary>
    public SocketTlsOptions Tls { get; } = new();
}
