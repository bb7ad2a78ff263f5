using Ipc.Transports;

namespace Ipc.InMemory;

/// <summary>
/// The in-memory transport (<c>inmemory://name</c>): client and server in one process, no serialization of the
/// envelope, for unit tests of application code and for components of one app. Addresses are process-wide.
/// </summary>
internal sealed class InMemoryTransport : IIpcTransport
{
    public const string Scheme = "inmemory";

    private const TransportCapabilities Supported =
        TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.Streaming
        | TransportCapabilities.Ordered | TransportCapabilities.PublishSubscribe | TransportCapabilities.InProcess
        | TransportCapabilities.CancellationPropagates;

    private static readonly string[] s_schemes = [Scheme];

    public string Name => "InMemory";

    public IReadOnlyList<string> Schemes => s_schemes;

    public TransportCapabilities GetCapabilities(Uri address) => Supported;

    public string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return string.IsNullOrEmpty(address.Host) ? "name the channel after //, for example inmemory://calculator."
            : !string.IsNullOrEmpty(address.UserInfo) ? "an inmemory:// address has no user name or password; remove the part before '@'."
            : null;
    }

    public IIpcTransportClient CreateClient(IpcTransportContext context) => new InMemoryClient(context);

    public IIpcTransportListener CreateListener(IpcTransportContext context) => new InMemoryListener(context);

    internal static string Key(Uri address) => (address.Host + address.AbsolutePath.TrimEnd('/')).ToLowerInvariant();
}
