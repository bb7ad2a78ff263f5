using Ipc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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
#endregion

await host.StopAsync();

#region contracts
public sealed record Add(int A, int B);

public sealed record Sum(int Value);

public sealed record CountTo(int N);

public sealed record Note(string Text);
#endregion

internal static class Numbers
{
    public static async IAsyncEnumerable<int> CountAsync(int n, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 1; i <= n; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return i;
        }
    }
}
