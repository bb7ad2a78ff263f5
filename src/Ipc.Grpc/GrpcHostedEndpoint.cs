using Ipc.Transports;

namespace Ipc.Grpc;

/// <summary>The endpoint an ASP.NET Core app serves with <c>MapIpcGrpc</c>: one per app, as the service's gRPC name is fixed.</summary>
internal sealed class GrpcHostedEndpoint
{
    private IIpcServer? _server;

    /// <summary>Gets the endpoint MapIpcGrpc attached, or <see langword="null"/> before it did.</summary>
    public IIpcServer? Attached => Volatile.Read(ref _server);

    public IIpcServer Server => _server
        ?? throw new InvalidOperationException("No Ipc endpoint is mapped to the gRPC envelope service. Call app.MapIpcGrpc(\"<endpoint>\") before the app starts.");

    public void Attach(IIpcServer server)
    {
        var current = Interlocked.CompareExchange(ref _server, server, null);
        if (current is not null && !ReferenceEquals(current, server))
        {
            throw new InvalidOperationException(
                $"This app already serves endpoint '{current.EndpointName}' with MapIpcGrpc; the gRPC service (ipc.v1.IpcService) can serve one endpoint per app. Map the routes of '{server.EndpointName}' into '{current.EndpointName}', or serve it on its own grpc:// address.");
        }
    }
}
