using System.Globalization;
using Ipc.Tls;
using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.Grpc;

/// <summary>Checks the data annotations of <see cref="GrpcTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class GrpcTransportOptionsDataValidator : IValidateOptions<GrpcTransportOptions>;

/// <summary>Checks <see cref="GrpcTransportOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class GrpcTransportOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<GrpcTransportOptions>(GrpcTransportOptions.SectionName, new GrpcTransportOptionsDataValidator(), services)
{
    protected override void Check(string section, GrpcTransportOptions options, ICollection<string> failures)
    {
        TlsCertificates.CheckFiles(section, options.Tls, failures);

        if (options.KeepAlivePingTimeout > options.KeepAlivePingDelay)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:KeepAlivePingTimeout ({options.KeepAlivePingTimeout}) must not be longer than KeepAlivePingDelay ({options.KeepAlivePingDelay})."));
        }
    }
}
