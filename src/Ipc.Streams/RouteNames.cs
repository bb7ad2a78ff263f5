namespace Ipc.Transports.Streams;

/// <summary>
/// The route names one connection read last, so that a frame for one of them gets the string it already has instead of a
/// new one decoded from its bytes: a connection usually calls a handful of routes, and each message would otherwise cost a
/// string and a decoding. Used by the connection's frame loop only, one frame at a time.
/// </summary>
/// <remarks>
/// It holds <see cref="Capacity"/> names of up to <see cref="MaxBytes"/> bytes; a peer that sends more routes, or longer
/// ones, only replaces them in turn (or gets them decoded each time), so no peer makes it hold more memory.
/// </remarks>
internal sealed class RouteNames
{
    internal const int Capacity = 8;
    internal const int MaxBytes = 128;

    private readonly byte[][] _bytes = new byte[Capacity][];
    private readonly string[] _names = new string[Capacity];
    private int _count;
    private int _last;
    private int _next;

    /// <summary>Returns the route named by <paramref name="utf8"/>: a name this connection read before, or a new one, decoded and checked as every string field is.</summary>
    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (_count > 0 && utf8.SequenceEqual(_bytes[_last]))
        {
            return _names[_last];
        }

        for (var i = 0; i < _count; i++)
        {
            if (utf8.SequenceEqual(_bytes[i]))
            {
                _last = i;
                return _names[i];
            }
        }

        var name = WireFormat.Decode(utf8, "route");
        if (utf8.Length <= MaxBytes)
        {
            var slot = _next;
            _next = (slot + 1) % Capacity;
            _count = Math.Max(_count, slot + 1);
            _bytes[slot] = utf8.ToArray();
            _names[slot] = name;
            _last = slot;
        }

        return name;
    }
}
