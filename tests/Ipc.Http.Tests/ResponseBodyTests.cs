using System.Text;
using Ipc.TestUtils;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Http.Tests;

/// <summary>
/// How the client reads a response's body of a declared Content-Length, from an HTTP/1.1 server written by hand on a
/// socket: whole when it comes in pieces, and with memory that follows the bytes that arrive, not the length declared.
/// </summary>
/// <remarks>
/// It runs alone: its allocation bound is read from the process-wide counter, which tests running beside it would add to.
/// </remarks>
[Collection(nameof(ResponseBodyTests))]
public sealed class ResponseBodyTests
{
    private const int Declared = 4 * 1024 * 1024;

    /// <summary>Bodies on either side of the length read into one array, and ones the array grows for, sent in pieces.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(64 * 1024)]
    [InlineData((64 * 1024) + 1)]
    [InlineData((1024 * 1024) + 3)]
    [InlineData(Declared)]
    public async Task Request_BodyInPieces_IsReadWhole(int length)
    {
        var body = new byte[length];
        new Random(length).NextBytes(body);
        await using var server = HostileServerTests.RawHttpServer.Start(async (index, stream, cancellationToken) =>
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: {length}\r\n\r\n"), cancellationToken);
            for (var sent = 0; sent < length; sent += 50_000)
            {
                await stream.WriteAsync(body.AsMemory(sent, Math.Min(50_000, length - sent)), cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }
        });
        await using var client = TestIpc.CreateClient(server.Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
        await using var raw = RawClient(client, server.Address);

        var response = await raw.RequestAsync(new IpcMessage("x", new byte[] { 0xa1, 0x78 }), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound);

        Assert.Null(response.Fault);
        Assert.True(body.AsSpan().SequenceEqual(response.Body.Span), $"{response.Body.Length} bytes read of {length}");
    }

    /// <summary>
    /// A server that declares a body of MaxMessageSize, sends a few bytes of it and closes the connection: the call fails
    /// as a lost connection, as ever, having allocated for what arrived rather than for what was declared.
    /// </summary>
    [Fact]
    public async Task Request_BodyShorterThanDeclared_FailsWithUnavailableAndAllocatesForWhatArrived()
    {
        var calls = 0;
        await using var server = HostileServerTests.RawHttpServer.Start(async (index, stream, cancellationToken) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 3\r\n\r\nok!"), cancellationToken);
                return;
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: {Declared}\r\n\r\n0123456789"), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            stream.Dispose(); // the rest never comes
        });
        await using var client = TestIpc.CreateClient(server.Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
        await using var raw = RawClient(client, server.Address);
        await raw.RequestAsync(new IpcMessage("x", new byte[] { 0xa1, 0x78 }), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound); // the client and its connection, made
        var before = GC.GetTotalAllocatedBytes(precise: true);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => raw.RequestAsync(new IpcMessage("x", new byte[] { 0xa1, 0x78 }), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound));

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(ex.ErrorCode == IpcErrorCode.Unavailable, ex.ToString());
        Assert.True(allocated < Declared / 4, $"{allocated:N0} bytes were allocated for a body of 10 bytes that declared {Declared:N0}");
    }

    private static IIpcTransportClient RawClient(ServiceProvider client, string address) =>
        client.GetServices<IIpcTransport>().Single(t => t.Name == "Http").CreateClient(new IpcTransportContext(TestIpc.Endpoint, new Uri(address), client));
}

/// <summary>The collection of <see cref="ResponseBodyTests"/>, run with no other test beside it.</summary>
[CollectionDefinition(nameof(ResponseBodyTests), DisableParallelization = true)]
public sealed class ResponseBodyCollection
{
}
