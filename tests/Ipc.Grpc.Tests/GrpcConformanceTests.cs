using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Grpc.Tests;

public sealed class GrpcTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => $"grpc://127.0.0.1:{TestAddresses.FreePort()}";

    public override void AssertRemoteAddress(string? remoteAddress) => RemoteAddresses.AssertLoopback(remoteAddress);
}

[Trait("Transport", "Grpc")]
public sealed class GrpcRequestResponseTests : RequestResponseConformanceTests<GrpcTransportUnderTest>;

[Trait("Transport", "Grpc")]
public sealed class GrpcOneWayTests : OneWayConformanceTests<GrpcTransportUnderTest>;

[Trait("Transport", "Grpc")]
public sealed class GrpcOrderedTests : OrderedConformanceTests<GrpcTransportUnderTest>;

[Trait("Transport", "Grpc")]
public sealed class GrpcStreamingTests : StreamingConformanceTests<GrpcTransportUnderTest>;

[Trait("Transport", "Grpc")]
public sealed class GrpcCancellationTests : CancellationConformanceTests<GrpcTransportUnderTest>;

[Trait("Transport", "Grpc")]
public sealed class GrpcConnectionTests : ConnectionConformanceTests<GrpcTransportUnderTest>;
