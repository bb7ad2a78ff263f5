namespace Ipc;

/// <summary>
/// The options of the Ipc runtime, bound from the <c>Ipc</c> configuration section.
/// </summary>
public sealed class IpcOptions
{
    /// <summary>The name of the MessagePack serializer (the default).</summary>
    public const string MessagePackSerializer = "MessagePack";

    /// <summary>The name of the System.Text.Json serializer.</summary>
    public const string JsonSerializer = "Json";

    /// <summary>Gets the endpoints by name (<c>Ipc:Endpoints:&lt;name&gt;</c>). Names are case-insensitive.</summary>
    public Dictionary<string, IpcEndpointOptions> Endpoints { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets or sets the serializer endpoints use unless they name their own.</summary>
    /// <value>The default value is <c>MessagePack</c>. <c>Json</c> selects System.Text.Json.</value>
    public string Serializer { get; set; } = MessagePackSerializer;

    /// <summary>
    /// Gets or sets a value indicating whether servers send callers the details of their errors: a handler's unhandled
    /// exception with its type name, message and stack trace (in <see cref="IpcRemoteError.Details"/>), and the list of
    /// mapped routes with <see cref="IpcErrorCode.NoHandler"/>. For development; an endpoint's own
    /// <see cref="IpcEndpointOptions.EnableDetailedErrors"/> wins.
    /// </summary>
    /// <value>
    /// The default value is <see langword="false"/>: an unhandled exception reaches the caller as a generic
    /// <see cref="IpcErrorCode.RemoteError"/> (code <see cref="IpcRemoteError.UnhandledExceptionCode"/>) and is logged on
    /// the server; an <see cref="IpcHandlerException"/> passes as it is either way.
    /// </value>
    public bool EnableDetailedErrors { get; set; }
}
