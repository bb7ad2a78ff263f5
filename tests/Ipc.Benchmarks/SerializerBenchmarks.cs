using System.Buffers;
using BenchmarkDotNet.Attributes;
using Ipc.Serialization;

namespace Ipc.Benchmarks;

/// <summary>Serialize and deserialize a small order with each built-in serializer.</summary>
[MemoryDiagnoser]
public class SerializerBenchmarks
{
    private readonly Order _order = new(42, "Contoso", 129.95m, ["widget", "gadget", "gizmo"]);
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly MessagePackIpcSerializer _messagePack = new();
    private readonly SystemTextJsonIpcSerializer _json = new();
    private byte[] _messagePackBytes = null!;
    private byte[] _jsonBytes = null!;

    [GlobalSetup]
    public void Setup()
    {
        _messagePackBytes = Serialize(_messagePack);
        _jsonBytes = Serialize(_json);
    }

    [Benchmark(Baseline = true)]
    public int MessagePackSerialize()
    {
        _buffer.ResetWrittenCount();
        _messagePack.Serialize(_buffer, _order);
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public Order MessagePackDeserialize() => _messagePack.Deserialize<Order>(_messagePackBytes);

    [Benchmark]
    public int JsonSerialize()
    {
        _buffer.ResetWrittenCount();
        _json.Serialize(_buffer, _order);
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public Order JsonDeserialize() => _json.Deserialize<Order>(_jsonBytes);

    private byte[] Serialize(IIpcSerializer serializer)
    {
        _buffer.ResetWrittenCount();
        serializer.Serialize(_buffer, _order);
        return _buffer.WrittenSpan.ToArray();
    }
}
