using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using Ipc.TestUtils;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Streams.Tests;

/// <summary>
/// A transport client against servers written by hand, one per connection it opens: what it does with a request its
/// connection's server says it never read, and with one it did.
/// </summary>
public sealed class StreamTransportClientTests : IAsyncDisposable
{
    private static readonly byte[] s_body = [0x92, 1, 2];
    private readonly HandOutTransport _transport = new();
    private readonly ServiceProvider _services = new ServiceCollection().BuildServiceProvider();
    private readonly IIpcTransportClient _client;

    public StreamTransportClientTests() =>
        _client = _transport.CreateClient(new IpcTransportContext("test", new Uri("handout://server"), _services));

    [Fact]
    public async Task Request_TheServerSaysItNeverRead_GoesOnceMoreOnANewConnection()
    {
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        var call = _client.RequestAsync(new IpcMessage("add", s_body), CancellationToken.None).AsTask();

        // The first server reads the request, then goes away saying it read no call (an idle connection it let go, say).
        var first = await OpenAsync(bound.Token);
        var sent = await first.ReadFrameAsync(bound.Token);
        await first.SendAsync(Frame(writer => WireFormat.WriteGoAway(writer, IpcErrorCode.Unavailable, "idle", lastCallId: 0)));
        await first.DisposeAsync();

        var second = await OpenAsync(bound.Token);
        var again = await second.ReadFrameAsync(bound.Token);
        await second.SendAsync(Frame(writer => WireFormat.WriteMessage(writer, FrameType.Response, again!.Value.CallId, new IpcMessage("add", new byte[] { 3 }))));
        var response = await call.WaitAsync(bound.Token);

        Assert.Equal(FrameType.Request, sent?.Type);
        Assert.Equal(FrameType.Request, again?.Type);
        Assert.Equal(sent!.Value.Body, again!.Value.Body);
        Assert.Equal(new byte[] { 3 }, response.Body.ToArray());
        Assert.Equal(2, _transport.Opened);
        await second.DisposeAsync();
    }

    [Fact]
    public async Task Request_TheServerReadBeforeItWentAway_FailsUnavailableAndIsNotSentAgain()
    {
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        var call = _client.RequestAsync(new IpcMessage("add", s_body), CancellationToken.None).AsTask();

        var first = await OpenAsync(bound.Token);
        var sent = await first.ReadFrameAsync(bound.Token);
        await first.SendAsync(Frame(writer => WireFormat.WriteGoAway(writer, IpcErrorCode.Unavailable, "stopping", lastCallId: sent!.Value.CallId)));
        await first.DisposeAsync();
        var error = await Assert.ThrowsAnyAsync<IpcException>(() => call.WaitAsync(bound.Token));

        Assert.Equal(IpcErrorCode.Unavailable, error.ErrorCode);
        Assert.False(error.NotAccepted, "the server may have run it: it must not run twice");
        Assert.Equal(1, _transport.Opened);
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        await _services.DisposeAsync();
    }

    private static byte[] Frame(Action<ArrayBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Takes the server side of the client's next connection and answers its handshake.</summary>
    private async Task<RawPeer> OpenAsync(CancellationToken cancellationToken)
    {
        var server = new RawPeer(await _transport.Accepted.ReadAsync(cancellationToken));
        await server.ReadPrefaceAsync(cancellationToken);
        await server.SendAsync(Frame(writer =>
        {
            writer.Write(WireFormat.Preface);
            WireFormat.WriteSettings(writer, maxConcurrentCalls: 10, oneWayWindow: 10);
        }));
        return server;
    }

    [Theory]
    [InlineData("another user's socket file (EACCES)", IpcErrorCode.Unauthorized, "Access to failing://server (endpoint 'test') was denied: ")]
    [InlineData("UnauthorizedAccessException", IpcErrorCode.Unauthorized, "Access to failing://server (endpoint 'test') was denied: not yours")]
    [InlineData("AuthenticationException", IpcErrorCode.Unauthorized, "Authenticating with failing://server (endpoint 'test') failed: bad certificate")]
    [InlineData("connection refused", IpcErrorCode.Unavailable, "Could not connect to failing://server (endpoint 'test'): ")]
    public async Task Request_OpeningTheConnectionFails_FailsNotAcceptedWithTheCodeOfTheNativeFailure(string failure, IpcErrorCode expected, string message)
    {
        Exception native = failure switch
        {
            "another user's socket file (EACCES)" => new SocketException((int)SocketError.AccessDenied),
            "UnauthorizedAccessException" => new UnauthorizedAccessException("not yours"),
            "AuthenticationException" => new System.Security.Authentication.AuthenticationException("bad certificate"),
            _ => new SocketException((int)SocketError.ConnectionRefused),
        };
        await using var services = new ServiceCollection().BuildServiceProvider();
        await using var client = new FailingTransport(native).CreateClient(new IpcTransportContext("test", new Uri("failing://server"), services));

        var error = await Assert.ThrowsAsync<IpcException>(() => client.RequestAsync(new IpcMessage("add", s_body), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(expected, error.ErrorCode);
        Assert.True(error.NotAccepted);
        Assert.Same(native, error.InnerException);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    /// <summary>A medium that fails to open every connection with the same exception.</summary>
    private sealed class FailingTransport(Exception failure) : ConnectionTransport
    {
        public override string Name => "Failing";

        public override IReadOnlyList<string> Schemes { get; } = ["failing"];

        public override string? ValidateAddress(Uri address) => null;

        protected override ValueTask<DuplexConnection> OpenConnectionAsync(IpcTransportContext context, CancellationToken cancellationToken) =>
            ValueTask.FromException<DuplexConnection>(failure);

        protected override ConnectionAcceptor CreateConnectionAcceptor(IpcTransportContext context) => throw new NotSupportedException();
    }

    /// <summary>A medium whose every connection is a pair of pipes, the server side of which the test takes by hand.</summary>
    private sealed class HandOutTransport : ConnectionTransport
    {
        private readonly Channel<DuplexConnection> _accepted = Channel.CreateUnbounded<DuplexConnection>();
        private int _opened;

        public override string Name => "HandOut";

        public override IReadOnlyList<string> Schemes { get; } = ["handout"];

        public ChannelReader<DuplexConnection> Accepted => _accepted.Reader;

        public int Opened => Volatile.Read(ref _opened);

        public override string? ValidateAddress(Uri address) => null;

        protected override ValueTask<DuplexConnection> OpenConnectionAsync(IpcTransportContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _opened);
            var options = new PipeOptions(useSynchronizationContext: false);
            var toServer = new Pipe(options);
            var toClient = new Pipe(options);
            _accepted.Writer.TryWrite(DuplexConnection.Create(new DuplexPipe(toServer.Reader, toClient.Writer)));
            return new(DuplexConnection.Create(new DuplexPipe(toClient.Reader, toServer.Writer)));
        }

        protected override ConnectionAcceptor CreateConnectionAcceptor(IpcTransportContext context) => throw new NotSupportedException();

        private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;
    }
}
