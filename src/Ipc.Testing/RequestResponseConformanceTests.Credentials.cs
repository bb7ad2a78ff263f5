using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ipc.Testing;

/// <summary>Credentials in an address: what the library shows of the address never includes its password.</summary>
public abstract partial class RequestResponseConformanceTests<TTransport>
{
    /// <summary>
    /// An address may carry a user name and password (<c>amqp://app:secret@broker</c>). Whether the transport logs in with
    /// them or refuses them at start, the password shows in no log record, health report or error of either side, and the
    /// address shows with <c>***</c> in its place.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task Address_WithPassword_ShowsNoPassword()
    {
        var password = "pw-" + Guid.NewGuid().ToString("N")[..12];
        var address = Transport.AddressWithPassword(CreateAddress(), password);
        var masked = MaskQuery(address.Replace(password, "***", StringComparison.Ordinal));
        var collector = FakeLogCollector.Create(new FakeLogCollectorOptions());
        void Observed(IServiceCollection services)
        {
            services.AddLogging(l => l.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(collector)));
            services.AddHealthChecks().AddIpc();
        }

        var shown = new List<string>();
        ConformanceServer? server = null;
        try
        {
            server = await StartServerAsync(address, Probe, serviceName: null, configure: null, time: null, services: Observed);
        }
        catch (OptionsValidationException refused)
        {
            shown.Add(refused.ToString()); // the transport takes no credentials in its addresses: start says so
        }

        if (server is null)
        {
            var refused = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
            {
                var client = CreateClient(address, configure: null, timeProvider: null, resilience: null, counter: null, extraServices: Observed);
                await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(Bound);
            });
            shown.Add(refused.ToString());
        }
        else
        {
            var client = CreateClient(address, configure: null, timeProvider: null, resilience: null, counter: null, extraServices: Observed);
            Assert.NotNull(await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(Bound));
            var failed = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>(ConformanceRoutes.Fail, "x").AsTask().WaitAsync(Bound));
            shown.Add(failed.ToString());
            foreach (var services in new[] { server.Services, client.Services })
            {
                var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Bound);
                foreach (var entry in report.Entries.Values)
                {
                    shown.Add($"{entry.Description} {entry.Exception} {string.Join(' ', entry.Data.Values)}");
                }
            }
        }

        foreach (var record in collector.GetSnapshot())
        {
            shown.Add($"{record.Message} {record.Exception} {string.Join(' ', record.StructuredState?.Select(p => p.Value) ?? [])}");
        }

        var all = string.Join(Environment.NewLine, shown);
        Assert.False(all.Contains(password, StringComparison.Ordinal), $"The password of {masked} was shown:{Environment.NewLine}{all}");
        Assert.True(all.Contains(masked, StringComparison.Ordinal), $"Nothing named the address as {masked}:{Environment.NewLine}{all}");
    }

    /// <summary>The address as shown: the value of every query parameter is <c>***</c> too (<c>?name=***</c>).</summary>
    private static string MaskQuery(string address)
    {
        var query = address.IndexOf('?', StringComparison.Ordinal);
        if (query < 0)
        {
            return address;
        }

        var parameters = address[(query + 1)..].Split('&').Select(p => p.IndexOf('=', StringComparison.Ordinal) is var equals and >= 0 ? p[..(equals + 1)] + "***" : p);
        return address[..(query + 1)] + string.Join('&', parameters);
    }
}
