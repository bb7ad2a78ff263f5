namespace Ipc.Tests.Server;

/// <summary>A dispatched body is the transport's again once the call completes: nothing the dispatcher keeps reads it later.</summary>
public sealed partial class IpcDispatcherTests
{
    [Fact]
    public async Task DispatchRequestAsync_DuplicateOfRawHandlerAnsweringWithItsRequestBody_GetsTheFirstBytesAfterTheTransportReusedThem()
    {
        await using var server = CreateDispatcher(s => s.UseDuplicateFilter().MapRaw("echo", static (message, _, _) => new ValueTask<ReadOnlyMemory<byte>>(message.Body)));
        var buffer = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray(); // a transport's buffer, reused once the call completes
        var sent = buffer.ToArray();
        var first = new IpcMessage("echo", buffer) { MessageId = "m-1" };

        var response = await server.Inner.DispatchRequestAsync(first, CancellationToken.None);
        Assert.Equal(sent, response.Body.ToArray());
        buffer.AsSpan().Fill(0xEE);
        var duplicate = await server.Inner.DispatchRequestAsync(new IpcMessage("echo", new byte[] { 1 }) { MessageId = "m-1" }, CancellationToken.None);

        Assert.Equal(sent, duplicate.Body.ToArray());
    }
}
