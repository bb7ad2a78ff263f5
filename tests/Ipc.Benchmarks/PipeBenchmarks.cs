using System.IO.Pipes;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Benchmarks;

/// <summary><see cref="StreamTransportBenchmarks"/> over <c>pipe://</c>, against raw <see cref="NamedPipeServerStream"/>/<see cref="NamedPipeClientStream"/>.</summary>
public class PipeBenchmarks : StreamTransportBenchmarks
{
    private readonly string _rawName = $"bench-raw-{Guid.NewGuid():N}";

    protected override IIpcBuilder Configure(IIpcBuilder ipc, bool inline) => ipc.AddPipes(o =>
    {
        o.UnsafePreferInlineHandlers = inline;
        o.UnsafePreferInlineCompletions = inline;
    });

    protected override string NewAddress() => $"pipe://bench-{Guid.NewGuid():N}";

    protected override Task<RawEchoServer> StartRawServerAsync()
    {
        NamedPipeServerStream? waiting = Create();
        return Task.FromResult(new RawEchoServer(
            async ct =>
            {
                var pipe = waiting!;
                await pipe.WaitForConnectionAsync(ct);
                waiting = Create();
                return pipe;
            },
            () => waiting!.DisposeAsync()));

        NamedPipeServerStream Create() => new(_rawName, PipeDirection.InOut, NamedPipeServerStream.MaxAllowedServerInstances, PipeTransmissionMode.Byte, PipeOptions.Asynchronous | PipeOptions.CurrentUserOnly);
    }

    protected override async Task<Stream> ConnectRawAsync()
    {
        var pipe = new NamedPipeClientStream(".", _rawName, PipeDirection.InOut, PipeOptions.Asynchronous | PipeOptions.CurrentUserOnly);
        await pipe.ConnectAsync();
        return pipe;
    }
}
