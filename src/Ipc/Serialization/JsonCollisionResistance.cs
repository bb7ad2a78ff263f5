using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ipc.Serialization;

/// <summary>
/// Makes System.Text.Json read dictionaries and sets keyed by a value type with comparers whose hash a peer cannot
/// predict, as MessagePack's <c>UntrustedData</c> does: .NET's own hashes of <see cref="long"/>, <see cref="Guid"/>,
/// <see cref="double"/>, <see cref="DateTime"/> and the like are fixed functions of the value, so a peer can send
/// thousands of keys with one hash and make reading a body take seconds. String keys need nothing: .NET switches a
/// dictionary of strings to a randomized hash when its keys collide.
/// </summary>
/// <remarks>
/// Covers <see cref="Dictionary{TKey, TValue}"/>, <see cref="HashSet{T}"/> and the interfaces System.Text.Json reads into
/// them (<see cref="IDictionary{TKey, TValue}"/>, <see cref="ISet{T}"/>; System.Text.Json lets no comparer be given for
/// <see cref="IReadOnlyDictionary{TKey, TValue}"/>),
/// keyed by an integer, <see cref="bool"/>, <see cref="char"/>, an enum, <see cref="Guid"/>, <see cref="float"/>,
/// <see cref="double"/>, <see cref="DateTime"/>, <see cref="DateTimeOffset"/>, <see cref="TimeSpan"/>,
/// <see cref="DateOnly"/> or <see cref="TimeOnly"/>.
/// </remarks>
internal static class JsonCollisionResistance
{
    /// <summary>Returns a copy of <paramref name="options"/> whose resolver creates such collections with such comparers.</summary>
    public static JsonSerializerOptions Apply(JsonSerializerOptions options)
    {
        var copy = new JsonSerializerOptions(options);
        copy.TypeInfoResolver = (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(Modify);
        return copy;
    }

    private static void Modify(JsonTypeInfo info)
    {
        if (info.Kind is not (JsonTypeInfoKind.Dictionary or JsonTypeInfoKind.Enumerable) || !info.Type.IsGenericType)
        {
            return;
        }

        var definition = info.Type.GetGenericTypeDefinition();
        var arguments = info.Type.GetGenericArguments();
        var factory = definition == typeof(Dictionary<,>) || definition == typeof(IDictionary<,>) ? nameof(NewDictionary)
            : definition == typeof(HashSet<>) || definition == typeof(ISet<>) ? nameof(NewSet)
            : null;
        if (factory is null || Comparer(arguments[0]) is not { } comparer)
        {
            return;
        }

        // A typed delegate made once per type: creating each collection costs what `new` costs, no reflection.
        var method = typeof(JsonCollisionResistance).GetMethod(factory, BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(arguments);
        info.CreateObject = (Func<object>)method.Invoke(null, [comparer])!;
    }

    private static Func<object> NewDictionary<TKey, TValue>(IEqualityComparer<TKey> comparer)
        where TKey : notnull => () => new Dictionary<TKey, TValue>(comparer);

    private static Func<object> NewSet<T>(IEqualityComparer<T> comparer) => () => new HashSet<T>(comparer);

    /// <summary>The collision-resistant comparer of <paramref name="key"/>, or <see langword="null"/> when it has none.</summary>
    private static object? Comparer(Type key)
    {
        var bytes = key.IsEnum || key == typeof(sbyte) || key == typeof(byte) || key == typeof(short) || key == typeof(ushort)
            || key == typeof(int) || key == typeof(uint) || key == typeof(long) || key == typeof(ulong) || key == typeof(nint)
            || key == typeof(nuint) || key == typeof(bool) || key == typeof(char) || key == typeof(Guid) || key == typeof(TimeSpan)
            || key == typeof(DateOnly) || key == typeof(TimeOnly);
        if (bytes)
        {
            return Activator.CreateInstance(typeof(BytesComparer<>).MakeGenericType(key));
        }

        if (key == typeof(double))
        {
            return new NormalizedComparer<double, double>(static d => d == 0 ? 0d : double.IsNaN(d) ? double.NaN : d);
        }

        if (key == typeof(float))
        {
            return new NormalizedComparer<float, float>(static f => f == 0 ? 0f : float.IsNaN(f) ? float.NaN : f);
        }

        if (key == typeof(DateTime))
        {
            return new NormalizedComparer<DateTime, long>(static d => d.Ticks); // equality ignores Kind
        }

        return key == typeof(DateTimeOffset) ? new NormalizedComparer<DateTimeOffset, long>(static d => d.UtcTicks) : null;
    }

    /// <summary>Hashes all of a value's bytes with this process's random seed; for types whose equality is that of their bytes.</summary>
    private sealed class BytesComparer<T> : IEqualityComparer<T>
        where T : unmanaged
    {
        public bool Equals(T x, T y) => EqualityComparer<T>.Default.Equals(x, y);

        public int GetHashCode(T value)
        {
            var hash = default(HashCode);
            hash.AddBytes(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(ref value)));
            return hash.ToHashCode();
        }
    }

    /// <summary>Hashes the bytes of a value's normal form (equal values, one form) with this process's random seed.</summary>
    private sealed class NormalizedComparer<T, TNormal>(Func<T, TNormal> normalize) : IEqualityComparer<T>
        where T : struct
        where TNormal : unmanaged
    {
        public bool Equals(T x, T y) => EqualityComparer<T>.Default.Equals(x, y);

        public int GetHashCode(T value)
        {
            var normal = normalize(value);
            var hash = default(HashCode);
            hash.AddBytes(MemoryMarshal.AsBytes(new ReadOnlySpan<TNormal>(ref normal)));
            return hash.ToHashCode();
        }
    }
}
