using Ipc.Transports.Streams;

namespace Ipc.Pipes;

/// <summary>
/// The options of the named pipe transport (<c>pipe://</c>), bound from <c>Ipc:Transports:Pipes</c> and then
/// <c>Ipc:Endpoints:&lt;name&gt;:Pipes</c>, per endpoint.
/// </summary>
public sealed class PipeTransportOptions : StreamTransportOptions
{
    /// <summary>The configuration section name under <c>Ipc:Transports</c> and <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "Pipes";

    /// <summary>Gets or sets a value indicating whether only the user that runs the server may connect (and a client
    /// connects only to a server of its own user). Uses <see cref="System.IO.Pipes.PipeOptions.CurrentUserOnly"/>.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool CurrentUserOnly { get; set; } = true;
}
