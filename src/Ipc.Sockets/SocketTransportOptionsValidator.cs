using Microsoft.Extensions.Options;

namespace Ipc.Sockets;

/// <summary>Checks the data annotations of <see cref="SocketTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class SocketTransportOptionsDataValidator : IValidateOptions<SocketTransportOptions>;

/// <summary>Checks <see cref="SocketTransportOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class SocketTransportOptionsValidator : IValidateOptions<SocketTransportOptions>
{
    private readonly SocketTransportOptionsDataValidator _data = new();

    public ValidateOptionsResult Validate(string? name, SocketTransportOptions options)
    {
        var section = string.IsNullOrEmpty(name) ? "Ipc:Transports:Sockets" : $"Ipc:Endpoints:{name}:Sockets";
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

        if ((options.UnixSocketFileMode & (UnixFileMode.UserRead | UnixFileMode.UserWrite)) != (UnixFileMode.UserRead | UnixFileMode.UserWrite))
        {
            failures.Add($"{section}:UnixSocketFileMode must include UserRead and UserWrite, or the server's own user could not connect.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
