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

/// <summary>Checks <see cref="PipeTransportOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class PipeTransportOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<PipeTransportOptions>(PipeTransportOptions.SectionName, new PipeTransportOptionsDataValidator(), services);

/// <summary>Checks the data annotations of <see cref="WorkerProcessOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class WorkerProcessOptionsDataValidator : IValidateOptions<WorkerProcessOptions>;

/// <summary>Checks <see cref="WorkerProcessOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class WorkerProcessOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<WorkerProcessOptions>(WorkerProcessOptions.SectionName, new WorkerProcessOptionsDataValidator(), services);
