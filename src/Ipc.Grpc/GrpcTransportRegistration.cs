using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Grpc;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class GrpcTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddGrpc();
}
