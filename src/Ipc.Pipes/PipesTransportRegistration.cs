using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Pipes;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class PipesTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddPipes();
}

/// <summary>Checks the data annotations of <see cref="PipeTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class PipeTransportOptionsDataValidator : IValidateOptions<PipeTransportOptions>;

/// <summary>Checks <see cref="PipeTransportOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class PipeTransportOptionsValidator : IValidateOptions<PipeTransportOptions>
{
    private readonly PipeTransportOptionsDataValidator _data = new();

    public ValidateOptionsResult Validate(string? name, PipeTransportOptions options)
    {
        var section = string.IsNullOrEmpty(name) ? $"Ipc:Transports:{PipeTransportOptions.SectionName}" : $"Ipc:Endpoints:{name}:{PipeTransportOptions.SectionName}";
        var data = _data.Validate(name, options);
        return data.Failed ? ValidateOptionsResult.Fail(data.Failures.Select(f => $"{section}: {f}")) : ValidateOptionsResult.Success;
    }
}

/// <summary>Checks the data annotations of <see cref="WorkerProcessOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class WorkerProcessOptionsDataValidator : IValidateOptions<WorkerProcessOptions>;

/// <summary>Checks <see cref="WorkerProcessOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class WorkerProcessOptionsValidator : IValidateOptions<WorkerProcessOptions>
{
    private readonly WorkerProcessOptionsDataValidator _data = new();

    public ValidateOptionsResult Validate(string? name, WorkerProcessOptions options)
    {
        var section = string.IsNullOrEmpty(name) ? $"Ipc:Transports:{WorkerProcessOptions.SectionName}" : $"Ipc:Endpoints:{name}:{WorkerProcessOptions.SectionName}";
        var data = _data.Validate(name, options);
        return data.Failed ? ValidateOptionsResult.Fail(data.Failures.Select(f => $"{section}: {f}")) : ValidateOptionsResult.Success;
    }
}
