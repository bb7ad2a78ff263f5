using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Amqp.Tests;

/// <summary>The AMQP transport on the tests' broker: each address has a broker name of its own, so tests share no queue.</summary>
public sealed class AmqpTransportUnderTest : TransportUnderTest
{
    private string? _password; // the broker's, when the address carries another

    public override string CreateAddress() => AmqpTestAddresses.New("conformance");

    public override void ConfigureIpc(IIpcBuilder ipc) => ipc.AddAmqp(options =>
    {
        AmqpTestAddresses.Configure(options);
        options.Password ??= _password;
    });

    /// <summary>The broker's user, with <paramref name="password"/> in the address and the broker's own password in the options, which take precedence.</summary>
    public override string AddressWithPassword(string address, string password)
    {
        var uri = new Uri(address);
        var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? uri.UserInfo : uri.UserInfo[..colon];
        _password = colon < 0 ? "guest" : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        var builder = new UriBuilder(uri) { UserName = user.Length == 0 ? "guest" : user, Password = password };
        return builder.Uri.OriginalString;
    }

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
