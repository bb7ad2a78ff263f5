using Ipc.Tls;
using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.Sockets;

/// <summary>Checks the data annotations of <see cref="SocketTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class SocketTransportOptionsDataValidator : IValidateOptions<SocketTransportOptions>;

/// <summary>Checks <see cref="SocketTransportOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class SocketTransportOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<SocketTransportOptions>(SocketTransportOptions.SectionName, new SocketTransportOptionsDataValidator(), services)
{
    protected override void Check(string section, SocketTransportOptions options, ICollection<string> failures)
    {
        TlsCertificates.CheckFiles(section, options.Tls, failures);

        if ((options.UnixSocketFileMode & (UnixFileMode.UserRead | UnixFileMode.UserWrite)) != (UnixFileMode.UserRead | UnixFileMode.UserWrite))
        {
            failures.Add($"{section}:UnixSocketFileMode must include UserRead and UserWrite, or the server's own user could not connect.");
        }
    }
}
