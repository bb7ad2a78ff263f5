using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.Amqp;

/// <summary>Checks the data annotations of <see cref="AmqpTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AmqpTransportOptionsDataValidator : IValidateOptions<AmqpTransportOptions>;

/// <summary>Checks <see cref="AmqpTransportOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class AmqpTransportOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<AmqpTransportOptions>(AmqpTransportOptions.SectionName, new AmqpTransportOptionsDataValidator(), services)
{
    protected override void Check(string section, AmqpTransportOptions options, ICollection<string> failures)
    {
        for (var i = 0; i < options.Hosts.Count; i++)
        {
            var host = options.Hosts[i];
            if (AmqpAddress.ParseHost(host, 5672) is not null)
            {
                continue;
            }

            var at = host.LastIndexOf('@');
            failures.Add(at < 0
                ? $"{section}:Hosts:{i}: '{host}' is not a host or host:port (for example rabbit2 or rabbit2:5672)."
                : $"{section}:Hosts:{i}: '***@{host[(at + 1)..]}' names a user: a node is only host or host:port (for example rabbit2:5672), as UserName and Password apply to every node.");
        }

        if (options.Tls.ClientCertificatePath is { } path && !File.Exists(path))
        {
            failures.Add($"{section}:Tls:ClientCertificatePath: the file '{path}' does not exist.");
        }

        if (options.Tls.CertificateAuthorityPath is { } authority && !File.Exists(authority))
        {
            failures.Add($"{section}:Tls:CertificateAuthorityPath: the file '{authority}' does not exist.");
        }

        if (options.QueueExpiry is { } expiry && expiry < TimeSpan.FromSeconds(1))
        {
            failures.Add($"{section}:QueueExpiry must be at least 1 second, or unset to keep queues.");
        }
    }
}
