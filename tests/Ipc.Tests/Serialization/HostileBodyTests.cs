using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using Ipc.Serialization;
using MessagePack;
using MessagePack.Resolvers;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Serialization;

/// <summary>
/// Bodies a hostile peer can send: each must fail (or be read) without the reader allocating far more than the body, or
/// spinning. Allocations are measured on the calling thread around the serializer call the server and client make.
/// </summary>
public sealed class HostileBodyTests
{
    /// <summary>Far more than any of these bodies needs to be read or refused, far less than what they declare.</summary>
    private const long AllocationBound = 16 * 1024 * 1024;

    /// <summary>Options as an app writes them from MessagePack's own: no security of their own chosen.</summary>
    private static MessagePackSerializerOptions AppOptions => MessagePackSerializerOptions.Standard.WithResolver(ContractlessStandardResolver.Instance);

    public static TheoryData<string> MessagePackOptions => ["default", "app's own", "app's own with LZ4"];

    private static MessagePackIpcSerializer MessagePackWith(string options) => options switch
    {
        "default" => new MessagePackIpcSerializer(),
        "app's own" => new MessagePackIpcSerializer(AppOptions),
        "default with LZ4" => new MessagePackIpcSerializer(MessagePackIpcSerializer.DefaultOptions.WithCompression(MessagePackCompression.Lz4Block)),
        _ => new MessagePackIpcSerializer(AppOptions.WithCompression(MessagePackCompression.Lz4BlockArray)),
    };

    /// <summary>
    /// An LZ4 block extension (type 99) that declares <paramref name="declared"/> bytes once decompressed, followed by
    /// <paramref name="compressed"/> bytes of data: by default enough for LZ4 to produce what it declares.
    /// </summary>
    private static byte[] Lz4Block(int declared, int? compressed = null)
    {
        var length = compressed ?? Plausible(declared);
        var body = new byte[6 + 5 + length];
        body[0] = 0xc9; // ext32
        BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(1), 5 + length);
        body[5] = 99;
        body[6] = 0xd2; // int32
        BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(7), declared);
        return body;
    }

    /// <summary>
    /// An LZ4 block array: an extension (type 98) with the declared lengths, then one bin per block of
    /// <paramref name="compressed"/> bytes, by default enough for LZ4 to produce what the block declares.
    /// </summary>
    private static byte[] Lz4BlockArray(int[] declared, int? compressed = null)
    {
        var body = new List<byte> { (byte)(0x90 + declared.Length + 1), 0xc7, (byte)(declared.Length * 5), 98 };
        foreach (var length in declared)
        {
            body.AddRange([0xd2, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length]);
        }

        foreach (var length in declared)
        {
            var size = compressed ?? Plausible(length);
            body.AddRange([0xc6, (byte)(size >> 24), (byte)(size >> 16), (byte)(size >> 8), (byte)size]);
            body.AddRange(new byte[size]);
        }

        return [.. body];
    }

    /// <summary>Enough compressed bytes for LZ4 (at most 255 bytes out per byte in) to produce <paramref name="declared"/> bytes.</summary>
    private static int Plausible(int declared) => (declared / 255) + 1;

    private static (Exception? Error, long Allocated) Read<T>(IIpcSerializer serializer, byte[] body)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        Exception? error = null;
        try
        {
            serializer.Deserialize<T>(body);
        }
        catch (Exception ex)
        {
            error = ex;
        }

        return (error, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("default with LZ4", 1 << 30)]
    [InlineData("app's own with LZ4", 1 << 30)]
    [InlineData("app's own with LZ4", int.MaxValue)]
    public void MessagePack_Lz4BlockDeclaringHugeLength_IsRefusedBeforeAllocating(string options, int declared)
    {
        var (error, allocated) = Read<object>(MessagePackWith(options), Lz4Block(declared));

        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated to read a body declaring {declared}");
        var ex = Assert.IsType<MessagePackSerializationException>(error);
        Assert.Contains("MaximumDecompressedSize", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagePack_Lz4BlockArrayDeclaringHugeLength_IsRefusedBeforeAllocating()
    {
        var body = Lz4BlockArray([1 << 30]);

        var (error, allocated) = Read<object>(MessagePackWith("app's own with LZ4"), body);

        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated to read a {body.Length}-byte body");
        Assert.Contains("MaximumDecompressedSize", Assert.IsType<MessagePackSerializationException>(error).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("default with LZ4")]
    [InlineData("app's own with LZ4")]
    public void MessagePack_Lz4DeclaringMoreThanItsBytesCanHold_IsRefusedBeforeAllocating(string options)
    {
        // Under the 64 MiB limit, but 4 bytes of LZ4 decompress to at most about a kilobyte.
        foreach (var body in new[] { Lz4Block(60 << 20, compressed: 4), Lz4BlockArray([60 << 20, 60 << 20, 60 << 20], compressed: 2) })
        {
            var (error, allocated) = Read<object>(MessagePackWith(options), body);

            Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated to read a {body.Length}-byte body");
            Assert.Contains("more than LZ4 can produce", Assert.IsType<MessagePackSerializationException>(error).Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(MessagePackCompression.Lz4Block)]
    [InlineData(MessagePackCompression.Lz4BlockArray)]
    public void MessagePack_Lz4AtItsHighestRatio_IsRead(MessagePackCompression compression)
    {
        // Zeros compress as well as LZ4 can compress anything (about 255 to 1).
        var options = MessagePackIpcSerializer.DefaultOptions.WithCompression(compression);
        var compressed = MessagePackSerializer.Serialize(new byte[1 << 20], options);

        Assert.True(compressed.Length < (1 << 20) / 250, $"{compressed.Length} bytes: not compressed at LZ4's highest ratio");
        Assert.Equal(new byte[1 << 20], new MessagePackIpcSerializer(options).Deserialize<byte[]>(compressed));
    }

    [Theory]
    [MemberData(nameof(MessagePackOptions))]
    public void MessagePack_NestingDeeperThanUntrustedDataAllows_IsRefused(string options)
    {
        // 600 nested one-element arrays: more than UntrustedData's 500, and few enough that reading them could not overflow the stack.
        var nested = new byte[601];
        Array.Fill(nested, (byte)0x91);
        nested[^1] = 0x01;

        var ex = Assert.Throws<MessagePackSerializationException>(() => MessagePackWith(options).Deserialize<object>(nested));

        Assert.Contains("maximum depth allowed of 500", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(MessagePackOptions))]
    public void MessagePack_MapOfLongKeys_UsesACollisionResistantComparer(string options)
    {
        // 2^32+1 and 2^33+2 have the same default hash (its halves XORed): a peer can send thousands of such keys.
        var body = MessagePackSerializer.Serialize(new Dictionary<long, int> { [(1L << 32) | 1] = 0, [(2L << 32) | 2] = 0 }, AppOptions);

        var comparer = MessagePackWith(options).Deserialize<Dictionary<long, int>>(body).Comparer;

        Assert.NotEqual(comparer.GetHashCode((1L << 32) | 1), comparer.GetHashCode((2L << 32) | 2));
    }

    [Fact]
    public void MessagePack_AppsOwnSecurity_IsKept()
    {
        var security = MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(2);
        var nested = new byte[] { 0x91, 0x91, 0x91, 0x01 };

        var ex = Assert.Throws<MessagePackSerializationException>(() => new MessagePackIpcSerializer(AppOptions.WithSecurity(security)).Deserialize<object>(nested));

        Assert.Contains("maximum depth allowed of 2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagePack_LargerMaximumDecompressedSize_ReadsALargerCompressedBody()
    {
        var services = new ServiceCollection();
        #region raise-decompressed-size
        services.AddIpc().UseMessagePack(MessagePackIpcSerializer.DefaultOptions
            .WithCompression(MessagePackCompression.Lz4BlockArray)
            .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumDecompressedSize(256 * 1024 * 1024)));
        #endregion
        using var provider = services.BuildServiceProvider();
        var serializer = provider.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.MessagePackSerializer);
        var compressed = MessagePackSerializer.Serialize(new byte[65 << 20], MessagePackIpcSerializer.DefaultOptions.WithCompression(MessagePackCompression.Lz4BlockArray));

        Assert.Equal(65 << 20, serializer.Deserialize<byte[]>(compressed).Length);
        Assert.Throws<MessagePackSerializationException>(() => MessagePackWith("app's own with LZ4").Deserialize<byte[]>(compressed));
    }

    [Fact]
    public void Json_NestingDeeperThanMaxDepth_IsRefused()
    {
        var nested = new byte[100_000];
        Array.Fill(nested, (byte)'[');

        var (error, allocated) = Read<object>(new SystemTextJsonIpcSerializer(), nested);

        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated to read a {nested.Length}-byte body");
        Assert.Contains("maximum configured depth of 64", Assert.IsType<System.Text.Json.JsonException>(error).Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> JsonOptions => ["default", "app's own"];

    private static SystemTextJsonIpcSerializer JsonWith(string options) =>
        options == "default" ? new SystemTextJsonIpcSerializer() : new SystemTextJsonIpcSerializer(new System.Text.Json.JsonSerializerOptions { PropertyNameCaseInsensitive = true });

    /// <summary>Keys whose .NET hashes are equal (a long's halves XORed; a Guid's and a DateTime's likewise), which a peer can send by the thousand.</summary>
    [Theory]
    [MemberData(nameof(JsonOptions))]
    public void Json_DictionariesAndSetsOfValueTypeKeys_UseCollisionResistantComparers(string options)
    {
        var serializer = JsonWith(options);
        long a = (1L << 32) | 1, b = (2L << 32) | 2;
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        var g1 = new Guid(1, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]);
        var g2 = new Guid(0, 1, 0, [0, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Equal(g1.GetHashCode(), g2.GetHashCode());

        var map = serializer.Deserialize<Dictionary<long, int>>("""{"4294967297":1,"8589934594":2}"""u8.ToArray());
        var set = serializer.Deserialize<HashSet<Guid>>(System.Text.Encoding.UTF8.GetBytes($"[\"{g1}\",\"{g2}\"]"));
        var keyed = serializer.Deserialize<KeyedMaps>("""{"byId":{"4294967297":1},"ids":[4294967297],"at":{"2024-01-01T00:00:00Z":1}}"""u8.ToArray());

        Assert.NotEqual(map.Comparer.GetHashCode(a), map.Comparer.GetHashCode(b));
        Assert.Equal(2, map[b]);
        Assert.NotEqual(set.Comparer.GetHashCode(g1), set.Comparer.GetHashCode(g2));
        Assert.Contains(g2, set);
        var byId = Assert.IsType<Dictionary<long, int>>(keyed.ById);
        Assert.NotEqual(byId.Comparer.GetHashCode(a), byId.Comparer.GetHashCode(b));
        var ids = Assert.IsType<HashSet<long>>(keyed.Ids);
        Assert.NotEqual(ids.Comparer.GetHashCode(a), ids.Comparer.GetHashCode(b));
        var at = Assert.IsType<Dictionary<DateTime, int>>(keyed.At);
        var utc = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        Assert.Equal(1, at[DateTime.SpecifyKind(utc, DateTimeKind.Unspecified)]); // equal DateTimes of another Kind: one key, one hash
    }

    /// <summary>Every other hashed shape System.Text.Json creates: read-only, concurrent and immutable ones, at the top and as members.</summary>
    [Theory]
    [MemberData(nameof(JsonOptions))]
    public void Json_OtherHashedShapesOfValueTypeKeys_UseCollisionResistantComparers(string options)
    {
        var serializer = JsonWith(options);
        long a = (1L << 32) | 1, b = (2L << 32) | 2;

        var top = serializer.Deserialize<IReadOnlyDictionary<long, int>>("""{"4294967297":1,"8589934594":2}"""u8.ToArray());
        var shapes = serializer.Deserialize<HashedShapes>("""
            {"readOnly":{"4294967297":1},"concurrent":{"4294967297":2},"immutable":{"4294967297":3},"immutableInterface":{"4294967297":4},
             "immutableSet":[4294967297],"immutableSetInterface":[4294967297],"derived":{"4294967297":5},"derivedSet":[4294967297],"none":null}
            """u8.ToArray());

        AssertSeeded(Assert.IsType<Dictionary<long, int>>(top).Comparer);
        Assert.Equal(2, top[b]);
        AssertSeeded(Assert.IsType<Dictionary<long, int>>(shapes.ReadOnly).Comparer);
        AssertSeeded(shapes.Concurrent.Comparer);
        AssertSeeded(shapes.Immutable.KeyComparer);
        AssertSeeded(Assert.IsType<ImmutableDictionary<long, int>>(shapes.ImmutableInterface).KeyComparer);
        AssertSeeded(shapes.ImmutableSet.KeyComparer);
        AssertSeeded(Assert.IsType<ImmutableHashSet<long>>(shapes.ImmutableSetInterface).KeyComparer);
        AssertSeeded(shapes.Derived.Comparer);
        AssertSeeded(shapes.DerivedSet.Comparer);
        Assert.Equal([1, 2, 3, 4, 5], new[] { shapes.ReadOnly[a], shapes.Concurrent[a], shapes.Immutable[a], shapes.ImmutableInterface[a], shapes.Derived[a] });
        Assert.Null(shapes.None);

        void AssertSeeded(IEqualityComparer<long> comparer) => Assert.NotEqual(comparer.GetHashCode(a), comparer.GetHashCode(b));
    }

    /// <summary>The shapes read through another shape are written as System.Text.Json writes them.</summary>
    [Fact]
    public void Json_ReadOnlyAndImmutableShapes_WrittenAsBefore()
    {
        var shapes = new HashedShapes(
            new SortedDictionary<long, int> { [1] = 1 }, new ConcurrentDictionary<long, int>(), ImmutableDictionary<long, int>.Empty.Add(2, 2),
            ImmutableDictionary<long, int>.Empty, ImmutableHashSet.Create(3L), ImmutableHashSet<long>.Empty, new LongMap { [4] = 4 }, [5], null);

        var json = Written(shapes);

        Assert.Equal("""{"readOnly":{"1":1},"concurrent":{},"immutable":{"2":2},"immutableInterface":{},"immutableSet":[3],"immutableSetInterface":[],"derived":{"4":4},"derivedSet":[5],"none":null}""", json);
    }

    /// <summary>
    /// With ReferenceHandler.Preserve, a read-only dictionary met twice in a body is one object with a $ref to it, which only
    /// System.Text.Json's own reading resolves: such options keep it (with .NET's comparer) rather than fail the body.
    /// </summary>
    [Fact]
    public void Json_PreservedReferences_ReadOnlyDictionaryMetTwiceIsOneObject()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web) { ReferenceHandler = System.Text.Json.Serialization.ReferenceHandler.Preserve };
        var serializer = new SystemTextJsonIpcSerializer(options);
        IReadOnlyDictionary<long, int> shared = new Dictionary<long, int> { [1] = 1 };
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        serializer.Serialize(buffer, new[] { shared, shared });

        var read = serializer.Deserialize<IReadOnlyDictionary<long, int>[]>(buffer.WrittenMemory);

        Assert.Same(read[0], read[1]);
        Assert.Equal(1, read[0][1]);
    }

    /// <summary>A set of its own with no constructor taking a comparer cannot be given one: refused, saying what to write.</summary>
    [Fact]
    public void Json_DerivedSetWithoutComparerConstructor_RefusedSayingWhatToWrite()
    {
        var ex = Assert.Throws<NotSupportedException>(() => new SystemTextJsonIpcSerializer().Deserialize<Dictionary<string, NoComparerSet>>("""{"x":[1]}"""u8.ToArray()));

        Assert.StartsWith("System.Text.Json cannot read NoComparerSet with a collision-resistant comparer: give it a constructor that takes an IEqualityComparer<Int64> and passes it on to HashSet<Int64>, or declare the member as HashSet<Int64>.", ex.Message, StringComparison.Ordinal);
        Assert.Equal("[1]", Written(new NoComparerSet { 1 }));
    }

    private static string Written<T>(T value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        new SystemTextJsonIpcSerializer().Serialize(buffer, value);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public sealed record HashedShapes(
        IReadOnlyDictionary<long, int> ReadOnly, ConcurrentDictionary<long, int> Concurrent, ImmutableDictionary<long, int> Immutable,
        IImmutableDictionary<long, int> ImmutableInterface, ImmutableHashSet<long> ImmutableSet, IImmutableSet<long> ImmutableSetInterface,
        LongMap Derived, LongSet DerivedSet, IReadOnlyDictionary<Guid, int>? None);

    public sealed class LongMap : Dictionary<long, int>
    {
        public LongMap()
        {
        }

        public LongMap(IEqualityComparer<long> comparer)
            : base(comparer)
        {
        }
    }

    public sealed class LongSet : HashSet<long>
    {
        public LongSet()
        {
        }

        public LongSet(IEqualityComparer<long>? comparer)
            : base(comparer)
        {
        }
    }

    public sealed class NoComparerSet : HashSet<long>;

    /// <summary>Equal keys of another form (zeros of both signs) still find each other.</summary>
    [Fact]
    public void Json_DoubleKeys_EqualValuesOfAnotherFormAreOneKey()
    {
        var map = new SystemTextJsonIpcSerializer().Deserialize<Dictionary<double, int>>("""{"0":1,"1.5":2}"""u8.ToArray());

        Assert.Equal(1, map[-0.0]);
        Assert.Equal(2, map[1.5]);
    }

    public sealed record KeyedMaps(IDictionary<long, int> ById, ISet<long> Ids, IDictionary<DateTime, int> At);

    [Fact]
    public async Task RequestAsync_Lz4BombToAServerWithTheAppsOptions_ThrowsSerializationSayingWhatToRaise()
    {
        var address = TestSupport.NewAddress();
        var options = AppOptions.WithCompression(MessagePackCompression.Lz4BlockArray);
        using var server = await TestSupport.StartServerAsync(ipc => ipc.UseMessagePack(options).AddEndpoint("calc", address)
            .AddServer("calc", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));
        await using var client = TestSupport.Client("calc", address, ipc: b => b.UseMessagePack(options));
        var requests = client.GetRequiredKeyedService<IRequestClient>("calc");

        var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync(new IpcMessage("add", Lz4Block(100 << 20))).AsTask().WaitAsync(TestSupport.Bound));

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.Contains("MaximumDecompressedSize", ex.Message, StringComparison.Ordinal);
        Assert.Equal(5, await requests.RequestAsync<Add, int>("add", new Add(2, 3)).AsTask().WaitAsync(TestSupport.Bound));
    }
}
