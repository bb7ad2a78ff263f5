using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Ipc;

/// <summary>
/// The headers of an <see cref="IpcMessage"/>: string names (case-insensitive, compared ordinally) and string values
/// (any Unicode text). Some transports lower-case names on the wire; values are always preserved exactly.
/// </summary>
/// <remarks>Not thread-safe: a message is built by one caller, then handed over.</remarks>
public sealed class IpcHeaders : IDictionary<string, string>, IReadOnlyDictionary<string, string>
{
    private readonly Dictionary<string, string> _values;

    /// <summary>Creates an empty header collection.</summary>
    public IpcHeaders()
    {
        _values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Creates a header collection holding a copy of <paramref name="headers"/>.</summary>
    public IpcHeaders(IEnumerable<KeyValuePair<string, string>> headers)
        : this()
    {
        ArgumentNullException.ThrowIfNull(headers);
        foreach (var pair in headers)
        {
            this[pair.Key] = pair.Value;
        }
    }

    /// <inheritdoc />
    public int Count => _values.Count;

    /// <inheritdoc />
    public bool IsReadOnly => false;

    /// <inheritdoc cref="IDictionary{TKey, TValue}.Keys" />
    public ICollection<string> Keys => _values.Keys;

    /// <inheritdoc cref="IDictionary{TKey, TValue}.Values" />
    public ICollection<string> Values => _values.Values;

    IEnumerable<string> IReadOnlyDictionary<string, string>.Keys => _values.Keys;

    IEnumerable<string> IReadOnlyDictionary<string, string>.Values => _values.Values;

    /// <inheritdoc cref="IDictionary{TKey, TValue}.this" />
    public string this[string key]
    {
        get => _values[key];
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            ArgumentNullException.ThrowIfNull(value);
            _values[key] = value;
        }
    }

    /// <inheritdoc />
    public void Add(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        _values.Add(key, value);
    }

    /// <inheritdoc cref="IDictionary{TKey, TValue}.ContainsKey" />
    public bool ContainsKey(string key) => _values.ContainsKey(key);

    /// <inheritdoc />
    public bool Remove(string key) => _values.Remove(key);

    /// <inheritdoc cref="IDictionary{TKey, TValue}.TryGetValue" />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value) => _values.TryGetValue(key, out value);

    /// <inheritdoc />
    public void Clear() => _values.Clear();

    /// <summary>Returns an enumerator over the headers.</summary>
    public Dictionary<string, string>.Enumerator GetEnumerator() => _values.GetEnumerator();

    IEnumerator<KeyValuePair<string, string>> IEnumerable<KeyValuePair<string, string>>.GetEnumerator() => _values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _values.GetEnumerator();

    void ICollection<KeyValuePair<string, string>>.Add(KeyValuePair<string, string> item) => Add(item.Key, item.Value);

    bool ICollection<KeyValuePair<string, string>>.Contains(KeyValuePair<string, string> item) =>
        ((ICollection<KeyValuePair<string, string>>)_values).Contains(item);

    void ICollection<KeyValuePair<string, string>>.CopyTo(KeyValuePair<string, string>[] array, int arrayIndex) =>
        ((ICollection<KeyValuePair<string, string>>)_values).CopyTo(array, arrayIndex);

    bool ICollection<KeyValuePair<string, string>>.Remove(KeyValuePair<string, string> item) =>
        ((ICollection<KeyValuePair<string, string>>)_values).Remove(item);
}
