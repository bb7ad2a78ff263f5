#region usings
using System.Runtime.CompilerServices;          // [EnumeratorCancellation], for the stream helper
using Ipc;                                      // IRequestClient, IChannel
using Microsoft.Extensions.DependencyInjection; // AddIpc, GetRequiredKeyedService
using Microsoft.Extensions.Hosting;             // Host
#endregion

#region server
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });

// The endpoint's address comes from configuration (Ipc:Endpoints:calculator:Address):
// inmemory://calculator here; pipe://calculator or tcp://127.0.0.1:5000 once that adapter is referenced.
builder.Services.AddIpc(builder.Configuration)
    .AddServer("calculator", server => server
        .MapRequest<Add, Sum>("add", add => new Sum(add.A + add.B))
        .MapStream<CountTo, int>("count", (request, context, cancellationToken) => Numbers.CountAsync(request.N, cancellationToken))
        .MapMessage<Note>("note", (note, context, cancellationToken) =>
        {
            Console.WriteLine($"note: {note.Text}");
            return ValueTask.CompletedTask;
        }));

using var host = builder.Build();
await host.StartAsync();
#endregion

#region client
var calculator = host.Services.GetRequiredKeyedService<IRequestClient>("calculator");

Sum sum = await calculator.RequestAsync<Add, Sum>("add", new Add(2, 3));
Console.WriteLine($"2 + 3 = {sum.Value}");

await foreach (var n in calculator.StreamAsync<CountTo, int>("count", new CountTo(3)))
{
    Console.WriteLine($"count: {n}");
}

var channel = host.Services.GetRequiredKeyedService<IChannel>("calculator");
await channel.SendAsync("note", new Note("sent one-way"));

// Many one-way messages in one call: each is handled on its own, the resilience pipeline runs once for them all.
await channel.SendBatchAsync("note", [new Note("first of a batch"), new Note("second of a batch")]);

// A one-way call may return before its handler has run (most transports return once the message is on its way). A
// stopping server still handles the one-way messages it accepted (for up to the endpoint's DrainTimeout, 5 seconds by
// default), so the three notes are printed before the host has stopped.
await host.StopAsync();
#endregion

#region contracts
// Message types must be public (MessagePack, the default serializer, cannot write internal ones), as must the types
// of their members. Client and server share them, usually through a library both reference.
public sealed record Add(int A, int B);

public sealed record Sum(int Value);

public sealed record CountTo(int N);

public sealed record Note(string Text);
#endregion

#region helpers
// The stream route's handler: yields 1 .. n, stopping when the caller cancels.
internal static class Numbers
{
    public static async IAsyncEnumerable<int> CountAsync(int n, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 1; i <= n; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return i;
        }
    }
}
#endregion
