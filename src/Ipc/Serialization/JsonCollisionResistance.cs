using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
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
/// Covers every hashed shape System.Text.Json creates: <see cref="Dictionary{TKey, TValue}"/>, <see cref="HashSet{T}"/>,
/// <see cref="ConcurrentDictionary{TKey, TValue}"/> and the interfaces it reads into them (<see cref="IDictionary{TKey, TValue}"/>,
/// <see cref="ISet{T}"/>) get the comparer when created; <see cref="IReadOnlyDictionary{TKey, TValue}"/> and the immutable
/// dictionaries and sets, whose creation System.Text.Json lets no one change, are read as a <see cref="Dictionary{TKey, TValue}"/>
/// or <see cref="HashSet{T}"/> with the comparer and built from it (the read-only dictionary is that dictionary), unless
/// the options preserve references (a nested read cannot resolve a <c>$ref</c> to them); a class
/// derived from one of the three is created with its constructor that takes the comparer, and refused if it has none.
/// Keys: an integer, <see cref="bool"/>, <see cref="char"/>, an enum, <see cref="Guid"/>, <see cref="float"/>,
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
        if (options.ReferenceHandler is null)
        {
            // After the app's own: a converter of theirs for such a type wins. Not with preserved references: the nested read
            // of a read-through shape cannot resolve a $ref to it, so those shapes keep System.Text.Json's reading.
            copy.Converters.Add(new ReadThroughFactory());
        }

        return copy;
    }

    /// <summary>The message of the failure to read <paramref name="type"/>, derived from <paramref name="collection"/>, without a comparer constructor.</summary>
    public static string NoComparerConstructor(Type type, Type collection, Type key) =>
        $"System.Text.Json cannot read {SerializerErrors.Name(type)} with a collision-resistant comparer: give it a constructor that takes an " +
        $"IEqualityComparer<{SerializerErrors.Name(key)}> and passes it on to {SerializerErrors.Name(collection)}, or declare the member as {SerializerErrors.Name(collection)}.";

    private static void Modify(JsonTypeInfo info)
    {
        if (info.Kind is not (JsonTypeInfoKind.Dictionary or JsonTypeInfoKind.Enumerable) || info.Type.IsAbstract && !info.Type.IsInterface)
        {
            return;
        }

        var (factory, collection) = Hashed(info.Type);
        if (collection is null || Comparer(collection.GetGenericArguments()[0]) is not { } comparer)
        {
            return;
        }

        var arguments = collection.GetGenericArguments();
        if (info.Type == collection || info.Type.IsInterface)
        {
            // A typed delegate made once per type: creating each collection costs what `new` costs, no reflection.
            var method = typeof(JsonCollisionResistance).GetMethod(factory!, BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(arguments);
            info.CreateObject = (Func<object>)method.Invoke(null, [comparer])!;
            return;
        }

        var type = info.Type;
        var constructor = type.GetConstructor([typeof(IEqualityComparer<>).MakeGenericType(arguments[0])]);
        info.CreateObject = constructor is not null ? () => constructor.Invoke([comparer])
            : () => throw new NoComparerConstructorException(NoComparerConstructor(type, collection, arguments[0]));
    }

    /// <summary>The factory and hashed collection type <paramref name="type"/> is created as, or <c>(null, null)</c>.</summary>
    private static (string? Factory, Type? Collection) Hashed(Type type)
    {
        if (type.IsInterface)
        {
            var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : null;
            return definition == typeof(IDictionary<,>) ? (nameof(NewDictionary), typeof(Dictionary<,>).MakeGenericType(type.GetGenericArguments()))
                : definition == typeof(ISet<>) ? (nameof(NewSet), typeof(HashSet<>).MakeGenericType(type.GetGenericArguments()))
                : (null, null);
        }

        for (var t = type; t is not null; t = t.BaseType)
        {
            var definition = t.IsGenericType ? t.GetGenericTypeDefinition() : null;
            var factory = definition == typeof(Dictionary<,>) ? nameof(NewDictionary)
                : definition == typeof(HashSet<>) ? nameof(NewSet)
                : definition == typeof(ConcurrentDictionary<,>) ? nameof(NewConcurrentDictionary)
                : null;
            if (factory is not null)
            {
                return (factory, t);
            }
        }

        return (null, null);
    }

    private static Func<object> NewDictionary<TKey, TValue>(IEqualityComparer<TKey> comparer)
        where TKey : notnull => () => new Dictionary<TKey, TValue>(comparer);

    private static Func<object> NewConcurrentDictionary<TKey, TValue>(IEqualityComparer<TKey> comparer)
        where TKey : notnull => () => new ConcurrentDictionary<TKey, TValue>(comparer);

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

    /// <summary>Thrown for a derived collection that cannot be given a comparer; its message says what to write.</summary>
    internal sealed class NoComparerConstructorException(string message) : NotSupportedException(message);

    /// <summary>
    /// Reads <see cref="IReadOnlyDictionary{TKey, TValue}"/>, <see cref="ImmutableDictionary{TKey, TValue}"/>,
    /// <see cref="ImmutableHashSet{T}"/> and their interfaces keyed by such a type through a <see cref="Dictionary{TKey, TValue}"/>
    /// or <see cref="HashSet{T}"/> created with the comparer, since System.Text.Json lets no one choose how it creates them.
    /// </summary>
    private sealed class ReadThroughFactory : JsonConverterFactory
    {
        private JsonSerializerOptions? _writing;

        public override bool CanConvert(Type typeToConvert) => Shape(typeToConvert) is { } shape && Comparer(shape.Key) is not null;

        public override JsonConverter? CreateConverter(Type typeToConvert, JsonSerializerOptions options)
        {
            var (converter, key) = Shape(typeToConvert)!.Value;
            var writing = (Func<JsonSerializerOptions>)(() => Writing(options));
            return (JsonConverter)(converter.GetGenericTypeDefinition() == typeof(ReadOnlyDictionaryConverter<,>)
                ? Activator.CreateInstance(converter, writing) : Activator.CreateInstance(converter, Comparer(key), writing))!;
        }

        /// <summary>The options without this factory: System.Text.Json's own converters write these types as they always have.</summary>
        private JsonSerializerOptions Writing(JsonSerializerOptions options)
        {
            if (_writing is null)
            {
                var writing = new JsonSerializerOptions(options);
                writing.Converters.Remove(this);
                Interlocked.CompareExchange(ref _writing, writing, null);
            }

            return _writing;
        }

        private static (Type Converter, Type Key)? Shape(Type type)
        {
            if (!type.IsGenericType)
            {
                return null;
            }

            var definition = type.GetGenericTypeDefinition();
            var arguments = type.GetGenericArguments();
            var converter = definition == typeof(IReadOnlyDictionary<,>) ? typeof(ReadOnlyDictionaryConverter<,>)
                : definition == typeof(ImmutableDictionary<,>) || definition == typeof(IImmutableDictionary<,>) ? typeof(ImmutableDictionaryConverter<,,>)
                : definition == typeof(ImmutableHashSet<>) || definition == typeof(IImmutableSet<>) ? typeof(ImmutableSetConverter<,>)
                : null;
            return converter is null ? null
                : (converter.GetGenericArguments().Length > arguments.Length ? converter.MakeGenericType([type, .. arguments]) : converter.MakeGenericType(arguments), arguments[0]);
        }
    }

    /// <summary>Writes <typeparamref name="T"/> as System.Text.Json does; reads it through <typeparamref name="TRead"/>.</summary>
    private abstract class ReadThroughConverter<T, TRead>(Func<JsonSerializerOptions> writing) : JsonConverter<T>
    {
        public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            JsonSerializer.Deserialize(ref reader, (JsonTypeInfo<TRead>)options.GetTypeInfo(typeof(TRead))) is { } read ? Build(read) : default;

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            JsonSerializer.Serialize(writer, value, (JsonTypeInfo<T>)writing().GetTypeInfo(typeof(T)));

        protected abstract T Build(TRead read);
    }

    private sealed class ReadOnlyDictionaryConverter<TKey, TValue>(Func<JsonSerializerOptions> writing)
        : ReadThroughConverter<IReadOnlyDictionary<TKey, TValue>, Dictionary<TKey, TValue>>(writing)
        where TKey : notnull
    {
        // The Dictionary read is already created with the comparer (Modify); this is System.Text.Json's own choice of type.
        protected override IReadOnlyDictionary<TKey, TValue> Build(Dictionary<TKey, TValue> read) => read;
    }

    private sealed class ImmutableDictionaryConverter<T, TKey, TValue>(IEqualityComparer<TKey> comparer, Func<JsonSerializerOptions> writing)
        : ReadThroughConverter<T, Dictionary<TKey, TValue>>(writing)
        where TKey : notnull
    {
        protected override T Build(Dictionary<TKey, TValue> read) => (T)(object)ImmutableDictionary.CreateRange(comparer, read);
    }

    private sealed class ImmutableSetConverter<T, TKey>(IEqualityComparer<TKey> comparer, Func<JsonSerializerOptions> writing)
        : ReadThroughConverter<T, HashSet<TKey>>(writing)
    {
        protected override T Build(HashSet<TKey> read) => (T)(object)ImmutableHashSet.CreateRange(comparer, read);
    }
}
