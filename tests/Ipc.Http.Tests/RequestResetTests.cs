using System.Net;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ipc.Http.Tests;

/// <summary>A caller that gives up on its call while the server still reads the request's body went away: no server error.</summary>
public sealed class RequestResetTests
{
    /// <summary>
    /// Over HTTP/2 a cancelled call resets its stream: the server's read of the body fails with an IOException ("The
    /// client reset the request stream") before Kestrel cancels RequestAborted, so the server must read it as the caller
    /// gone, not log an error (1501) and try to answer 500.
    /// </summary>
    [Fact]
    public async Task Http2_CallerResetsWhileBodyIsRead_NoErrorIsLogged()
    {
        var log = new EventLog();
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}/reset";
        using var server = await TestIpc.StartServerAsync(address, ipc =>
        {
            ipc.AddHttp(o => o.Protocol = HttpIpcProtocol.Http2);
            ipc.Services.AddLogging(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Debug));
        });
        using var http = new HttpClient();

        for (var i = 0; i < 5; i++)
        {
            using var cancel = new CancellationTokenSource();
            var executing = log.Entries.Count(IsExecuting);
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{address}/echo")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new EndlessContent(),
            };
            var call = http.SendAsync(request, cancel.Token);
            await log.WaitForAsync(e => IsExecuting(e) && log.Entries.Count(IsExecuting) > executing).WaitAsync(TestIpc.Bound); // the server reads the body
            var finished = log.Entries.Count(IsFinished);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TestIpc.Bound));
            await log.WaitForAsync(e => IsFinished(e) && log.Entries.Count(IsFinished) > finished).WaitAsync(TestIpc.Bound);
        }

        Assert.Empty(log.Entries.Where(e => e.Level >= LogLevel.Error).Select(e => $"{e.Category} #{e.EventId}: {e.Message} {e.Exception?.Message}"));
    }

    private static bool IsExecuting(EventLog.Entry e) => e.Category == "Microsoft.AspNetCore.Routing.EndpointMiddleware" && e.Message.StartsWith("Executing endpoint", StringComparison.Ordinal);

    private static bool IsFinished(EventLog.Entry e) => e.Category == "Microsoft.AspNetCore.Routing.EndpointMiddleware" && e.Message.StartsWith("Executed endpoint", StringComparison.Ordinal);

    /// <summary>A JSON body whose first byte is sent at once and the rest never.</summary>
    private sealed class EndlessContent : HttpContent
    {
        public EndlessContent() => Headers.ContentType = new("application/json");

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) => await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(" "u8.ToArray(), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
