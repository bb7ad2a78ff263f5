using System.Globalization;
using Ipc.Tls;
using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.Grpc;

/// <summary>Checks the data annotations of <see cref="GrpcTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class GrpcTransportOptionsDataValidator : IValidateOptions<GrpcTransportOptions>;

/// <summary>Checks <see cref="GrpcTransportOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class GrpcTransportOptionsValidator() : TransportOptionsValidator<GrpcTransportOptions>(GrpcTransportOptions.SectionName, new GrpcTransportOptionsDataValidator())
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
