using Microsoft.Extensions.Options;

namespace Ipc.Grpc;

/// <summary>Checks the data annotations of <see cref="GrpcTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class GrpcTransportOptionsDataValidator : IValidateOptions<GrpcTransportOptions>;

/// <summary>Checks <see cref="GrpcTransportOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class GrpcTransportOptionsValidator : IValidateOptions<GrpcTransportOptions>
{
    private readonly GrpcTransportOptionsDataValidator _data = new();

    public ValidateOptionsResult Validate(string? name, GrpcTransportOptions options)
    {
        var section = string.IsNullOrEmpty(name) ? "Ipc:Transports:Grpc" : $"Ipc:Endpoints:{name}:Grpc";
        var failures = new List<string>();
        var data = _data.Validate(name, options);
        if (data.Failed)
        {
            failures.AddRange(data.Failures.Select(f => $"{section}: {f}"));
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

        if (options.KeepAlivePingTimeout > options.KeepAlivePingDelay)
        {
            failures.Add($"{section}:KeepAlivePingTimeout ({options.KeepAlivePingTimeout}) must not be longer than KeepAlivePingDelay ({options.KeepAlivePingDelay}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
