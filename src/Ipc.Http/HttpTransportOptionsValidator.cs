using System.Globalization;
using Ipc.Tls;
using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.Http;

/// <summary>Checks the data annotations of <see cref="HttpTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class HttpTransportOptionsDataValidator : IValidateOptions<HttpTransportOptions>;

/// <summary>Checks <see cref="HttpTransportOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class HttpTransportOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<HttpTransportOptions>(HttpTransportOptions.SectionName, new HttpTransportOptionsDataValidator(), services)
{
    protected override void Check(string section, HttpTransportOptions options, ICollection<string> failures)
    {
        if (options.MaxConcurrentSends >= options.MaxConnectionsPerServer)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:MaxConcurrentSends ({options.MaxConcurrentSends}) must be below MaxConnectionsPerServer ({options.MaxConnectionsPerServer}), so requests always find a connection while sends wait."));
        }

        TlsCertificates.CheckFiles(section, options.Tls, failures);
    }
}
