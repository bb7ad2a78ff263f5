using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tour;

/// <summary>The server side of every row: the same handlers, whatever the address.</summary>
public static class TourServer
{
    public static IHost Build(string address)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Ipc:Endpoints:tour:Address"] = address,
        }).AddInMemoryCollection(TourRows.AmqpLogin());

        var notes = new NoteCounter();
        builder.Services.AddSingleton(notes);
        builder.Services.AddIpc(builder.Configuration)
            .AddServer("tour", server => server
                .MapRequest<Add, int>(TourRoutes.Add, add => add.A + add.B)
                .MapMessage<Note>(TourRoutes.Note, (_, _, _) =>
                {
                    notes.Increment();
                    return default;
                })
                .MapRequest<int, int>(TourRoutes.NoteCount, _ => notes.Count));
        return builder.Build();
    }

    /// <summary>Runs a server until standard input closes: the Tour's <c>--serve</c> mode.</summary>
    public static async Task<int> ServeAsync(string address)
    {
        using var host = Build(address);
        await host.StartAsync();
        Console.WriteLine("READY");
        await Console.In.ReadToEndAsync(); // the parent closes our input to stop us
        await host.StopAsync();
        return 0;
    }
}

public sealed class NoteCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Increment() => Interlocked.Increment(ref _count);
}
