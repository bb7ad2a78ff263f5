using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Amqp.Tests;

/// <summary>The AMQP transport on the tests' broker: each address has a broker name of its own, so tests share no queue.</summary>
public sealed class AmqpTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => AmqpTestAddresses.New("conformance");

    public override void ConfigureIpc(IIpcBuilder ipc) => ipc.AddAmqp(AmqpTestAddresses.Configure);

    /// <summary>A broker hides the publisher; Ipc clients set no <c>app_id</c>, so the server names no peer.</summary>
    public override void AssertRemoteAddress(string? remoteAddress) => Assert.Null(remoteAddress);
}

[Trait("Transport", "Amqp")]
public sealed class AmqpRequestResponseTests : RequestResponseConformanceTests<AmqpTransportUnderTest>;

[Trait("Transport", "Amqp")]
public sealed class AmqpOneWayTests : OneWayConformanceTests<AmqpTransportUnderTest>;

[Trait("Transport", "Amqp")]
public sealed class AmqpPublishSubscribeTests : PublishSubscribeConformanceTests<AmqpTransportUnderTest>;

[Trait("Transport", "Amqp")]
public sealed class AmqpDurableTests : DurableConformanceTests<AmqpTransportUnderTest>;
