using System.Text;

namespace Ipc.Grpc.Tests;

[Trait("Transport", "Grpc")]
public sealed class GrpcEnvelopesTests
{
    [Fact]
    public void ToMetadata_Headers_AsciiPlainOthersAsBinOrInTheMap()
    {
        var message = new IpcMessage("route");
        message.Headers["Tenant"] = "acme";
        message.Headers["greeting"] = "grüß dich";
        message.Headers["padded"] = " kept ";
        message.Headers["Not A Key"] = "x";
        message.Headers["te"] = "reserved";
        message.Headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var envelope = GrpcEnvelopes.ToEnvelope(message);

        var metadata = GrpcEnvelopes.ToMetadata(message, envelope)!;

        Assert.Equal("acme", metadata.GetValue("tenant"));
        Assert.Equal("grüß dich", Encoding.UTF8.GetString(metadata.GetValueBytes("greeting-bin")!));
        Assert.Equal(" kept ", Encoding.UTF8.GetString(metadata.GetValueBytes("padded-bin")!));
        Assert.Equal(message.Headers["traceparent"], metadata.GetValue("traceparent"));
        Assert.Equal("x", envelope.Headers["Not A Key"]);
        Assert.Equal("reserved", envelope.Headers["te"]);
        Assert.Equal(4, metadata.Count);
    }

    [Fact]
    public void ToMetadata_NoHeaders_Null()
    {
        var message = new IpcMessage("route");

        Assert.Null(GrpcEnvelopes.ToMetadata(message, GrpcEnvelopes.ToEnvelope(message)));
    }

    [Theory]
    [InlineData("5000m", 5000 * TimeSpan.TicksPerMillisecond)]
    [InlineData("2S", 2 * TimeSpan.TicksPerSecond)]
    [InlineData("1H", TimeSpan.TicksPerHour)]
    [InlineData("3M", 3 * TimeSpan.TicksPerMinute)]
    [InlineData("250u", 2500)]
    [InlineData("900n", 9)]
    public void TryParseTimeout_GrpcTimeoutHeader_ReadsTheTimeLeft(string header, long ticks)
    {
        Assert.True(GrpcEnvelopes.TryParseTimeout(header, out var timeout));
        Assert.Equal(TimeSpan.FromTicks(ticks), timeout);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5x")]
    [InlineData("123456789m")]
    [InlineData("-5m")]
    public void TryParseTimeout_Malformed_False(string? header)
    {
        Assert.False(GrpcEnvelopes.TryParseTimeout(header, out _));
    }
}
