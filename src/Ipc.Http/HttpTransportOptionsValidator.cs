using Microsoft.Extensions.Options;

namespace Ipc.Http;

/// <summary>Checks the data annotations of <see cref="HttpTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class HttpTransportOptionsDataValidator : IValidateOptions<HttpTransportOptions>;

/// <summary>Checks <see cref="HttpTransportOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class HttpTransportOptionsValidator : IValidateOptions<HttpTransportOptions>
{
    private readonly HttpTransportOptionsDataValidator _data = new();

    public ValidateOptionsResult Validate(string? name, HttpTransportOptions options)
    {
        var section = string.IsNullOrEmpty(name) ? "Ipc:Transports:Http" : $"Ipc:Endpoints:{name}:Http";
        var failures = new List<string>();
        var data = _data.Validate(name, options);
        if (data.Failed)
        {
            failures.AddRange(data.Failures.Select(f => $"{section}: {f}"));
        }

        if (options.MaxConcurrentSends >= options.MaxConnectionsPerServer)
        {
            failures.Add($"{section}:MaxConcurrentSends ({options.MaxConcurrentSends}) must be below MaxConnectionsPerServer ({options.MaxConnectionsPerServer}), so requests always find a connection while sends wait.");
        }

        var tls = options.Tls;
        if (tls.CertificateKeyPath is not null && tls.CertificatePath is null)
        {
            failures.Add($"{section}:Tls:CertificateKeyPath is set without CertificatePath.");
        }

        if (tls.ClientCertificateKeyPath is not null && tls.ClientCertificatePath is null)
        {
            failures.Add($"{section}:Tls:ClientCertificateKeyPath is set without ClientCertificatePath.");
        }

        foreach (var path in new[] { tls.CertificatePath, tls.CertificateKeyPath, tls.ClientCertificatePath, tls.ClientCertificateKeyPath, tls.CertificateAuthorityPath })
        {
            if (path is not null && !File.Exists(path))
            {
                failures.Add($"{section}:Tls: the file '{path}' does not exist.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
