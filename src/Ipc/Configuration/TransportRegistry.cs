using Ipc.Transports;

namespace Ipc;

/// <summary>Maps address schemes to the registered transports.</summary>
internal sealed class TransportRegistry
{
    private readonly Dictionary<string, IIpcTransport> _byScheme = new(StringComparer.OrdinalIgnoreCase);

    public TransportRegistry(IEnumerable<IIpcTransport> transports)
    {
        foreach (var transport in transports)
        {
            foreach (var scheme in transport.Schemes)
            {
                if (_byScheme.TryGetValue(scheme, out var other) && other.GetType() != transport.GetType())
                {
                    throw new InvalidOperationException(
                        $"The address scheme '{scheme}' is claimed by two transports, {other.Name} and {transport.Name}. Register only one of them.");
                }

                _byScheme[scheme] = transport;
            }
        }
    }

    public IEnumerable<string> Schemes => _byScheme.Keys.Order(StringComparer.Ordinal);

    public bool TryGet(string scheme, out IIpcTransport transport) => _byScheme.TryGetValue(scheme, out transport!);
}
