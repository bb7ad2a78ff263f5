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

    /// <summary>An LZ4 block extension (type 99) that declares <paramref name="declared"/> bytes once decompressed, with 4 bytes of data.</summary>
    private static byte[] Lz4Block(int declared) =>
        [0xc7, 9, 99, 0xd2, (byte)(declared >> 24), (byte)(declared >> 16), (byte)(declared >> 8), (byte)declared, 0, 0, 0, 0];

    /// <summary>An LZ4 block array: an extension (type 98) with the declared lengths, then one 2-byte bin per block.</summary>
    private static byte[] Lz4BlockArray(params int[] declared)
    {
        var body = new List<byte> { (byte)(0x90 + declared.Length + 1), 0xc7, (byte)(declared.Length * 5), 98 };
        foreach (var length in declared)
        {
            body.AddRange([0xd2, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length]);
        }

        foreach (var _ in declared)
        {
            body.AddRange([0xc4, 2, 0, 0]);
        }

        return [.. body];
    }

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

        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated to read a 12-byte body declaring {declared}");
        var ex = Assert.IsType<MessagePackSerializationException>(error);
        Assert.Contains("MaximumDecompressedSize", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagePack_Lz4BlockArrayDeclaringHugeLength_IsRefusedBeforeAllocating()
    {
        var body = Lz4BlockArray(1 << 30);

        var (error, allocated) = Read<object>(MessagePackWith("app's own with LZ4"), body);

        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated to read a {body.Length}-byte body");
        Assert.Contains("MaximumDecompressedSize", Assert.IsType<MessagePackSerializationException>(error).Message, StringComparison.Ordinal);
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
    public async Task RequestAsync_Lz4BombToAServerWithTheAppsOptions_ThrowsSerializationSayingWhatToRaise()
    {
        var address = TestSupport.NewAddress();
        var options = AppOptions.WithCompression(MessagePackCompression.Lz4BlockArray);
        using var server = await TestSupport.StartServerAsync(ipc => ipc.UseMessagePack(options).AddEndpoint("calc", address)
            .AddServer("calc", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));
        await using var client = TestSupport.Client("calc", address, ipc: b => b.UseMessagePack(options));
        var requests = client.GetRequiredKeyedService<IRequestClient>("calc");

        var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync(new IpcMessage("add", Lz4Block(1 << 30))).AsTask().WaitAsync(TestSupport.Bound));

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.Contains("MaximumDecompressedSize", ex.Message, StringComparison.Ordinal);
        Assert.Equal(5, await requests.RequestAsync<Add, int>("add", new Add(2, 3)).AsTask().WaitAsync(TestSupport.Bound));
    }
}
