using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Ipc.InMemory;

/// <summary>The process-wide table of in-memory listeners by address.</summary>
internal static class InMemoryHub
{
    private static readonly ConcurrentDictionary<string, ImmutableArray<InMemoryListener>> s_listeners = new(StringComparer.Ordinal);

    public static void Add(string key, InMemoryListener listener) =>
        s_listeners.AddOrUpdate(key, _ => [listener], (_, existing) => existing.Add(listener));

    public static void Remove(string key, InMemoryListener listener)
    {
        while (s_listeners.TryGetValue(key, out var existing))
        {
            var updated = existing.Remove(listener);
            var done = updated.IsEmpty
                ? s_listeners.TryRemove(new KeyValuePair<string, ImmutableArray<InMemoryListener>>(key, existing))
                : s_listeners.TryUpdate(key, updated, existing);
            if (done)
            {
                return;
            }
        }
    }

    /// <summary>The listener that serves requests and sends: the first one started.</summary>
    public static InMemoryListener? Primary(string key) =>
        s_listeners.TryGetValue(key, out var listeners) && !listeners.IsEmpty ? listeners[0] : null;

    public static ImmutableArray<InMemoryListener> All(string key) =>
        s_listeners.TryGetValue(key, out var listeners) ? listeners : [];

    public static int Count => s_listeners.Count;
}
