using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.SharedMemory;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class SharedMemoryTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddSharedMemory();
}
