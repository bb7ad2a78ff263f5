using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Diagnostics;

public sealed class IpcMetricsTests
{
    [Fact]
    public async Task RequestAsync_WhileListened_RecordsClientAndServerDurationTaggedWithEndpoint()
    {
        var endpoint = $"metrics-{Guid.NewGuid():N}";
        var recorded = new ConcurrentQueue<(string Instrument, double Seconds)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Ipc" && instrument.Name is "ipc.client.request.duration" or "ipc.server.request.duration")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "rpc.service" && Equals(tag.Value, endpoint))
                {
                    recorded.Enqueue((instrument.Name, value)); // other tests' calls run in parallel: keep only this endpoint's
                }
            }
        });
        listener.Start();
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint(endpoint, address).AddServer(endpoint, s => s.MapRequest<int, int>("double", n => n * 2)));
        await using var client = TestSupport.Client(endpoint, address);

        Assert.Equal(42, await client.GetRequiredKeyedService<IRequestClient>(endpoint).RequestAsync<int, int>("double", 21).AsTask().WaitAsync(TestSupport.Bound));

        Assert.Contains(recorded, m => m.Instrument == "ipc.client.request.duration" && m.Seconds > 0);
        Assert.Contains(recorded, m => m.Instrument == "ipc.server.request.duration" && m.Seconds > 0);
    }
}
