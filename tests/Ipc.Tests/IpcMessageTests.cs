namespace Ipc.Tests;

public sealed class IpcMessageTests
{
    [Fact]
    public void NewMessageId_IsUniqueLowerHex()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => IpcMessage.NewMessageId()).ToList();

        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
    }

    [Fact]
    public void NewMessageId_IsProcessPrefixThenIncreasingHexSequence()
    {
        var ids = Enumerable.Range(0, 1_000).Select(_ => IpcMessage.NewMessageId()).ToList();

        Assert.Single(ids.Select(id => id[..16]).Distinct(StringComparer.Ordinal));
        var sequences = ids.Select(id => ulong.Parse(id[16..], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.All(sequences.Zip(sequences.Skip(1)), pair => Assert.True(pair.Second > pair.First, $"{pair.Second:x16} follows {pair.First:x16}"));
    }

    [Fact]
    public void MessageId_IsStableOnceRead()
    {
        var message = new IpcMessage("r");

        Assert.Equal(message.MessageId, message.MessageId);
    }

    [Fact]
    public void CreateResponse_KeepsRouteIdsAndCorrelation()
    {
        var request = new IpcMessage("route", new byte[] { 1 }) { CorrelationId = "c" };

        var response = IpcMessage.CreateResponse(request, new byte[] { 2 });
        var fault = IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.NoHandler, "none"));

        Assert.Equal(request.MessageId, response.MessageId);
        Assert.Equal("c", response.CorrelationId);
        Assert.Equal("route", response.Route);
        Assert.Equal(request.MessageId, fault.MessageId);
        Assert.Equal(IpcErrorCode.NoHandler, fault.Fault!.ErrorCode);
    }

    [Fact]
    public void Clone_HasIndependentHeaders()
    {
        var message = new IpcMessage("r", new byte[] { 1, 2 }) { CorrelationId = "c", ContentType = "t" };
        message.Headers["a"] = "1";

        var copy = message.Clone();
        copy.Headers["a"] = "2";

        Assert.Equal("1", message.Headers["a"]);
        Assert.Equal(message.MessageId, copy.MessageId);
        Assert.Equal("t", copy.ContentType);
        Assert.Equal(message.Body.ToArray(), copy.Body.ToArray());
    }

    [Fact]
    public void Clone_CallOptions_StayWithTheSender()
    {
        var message = new IpcMessage("r") { CallOptions = new IpcCallOptions { Idempotent = true } };

        var copy = message.Clone();

        Assert.Null(copy.CallOptions);
        Assert.NotNull(message.CallOptions);
    }

    [Fact]
    public void Headers_AreCaseInsensitiveAndRejectEmptyNames()
    {
        var headers = new IpcHeaders { ["X-Tenant"] = "a" };

        Assert.Equal("a", headers["x-tenant"]);
        Assert.Throws<ArgumentException>(() => headers[""] = "x");
        Assert.False(new IpcMessage("r").HasHeaders);
    }
}
