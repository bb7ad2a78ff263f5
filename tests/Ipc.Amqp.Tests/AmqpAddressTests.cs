using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace Ipc.Amqp.Tests;

public sealed class AmqpAddressTests
{
    [Theory]
    [InlineData("amqp:///", "name the broker's host")]
    [InlineData("amqp://rabbit/a/b", "one segment")]
    [InlineData("amqp://rabbit/?queue=x", "unknown query parameter 'queue'")]
    [InlineData("amqp://rabbit/?name=amq.x", "reserved")]
    public void Validate_BadAddress_SaysWhatToFix(string address, string expected)
    {
        var problem = AmqpAddress.Validate(new Uri(address));

        Assert.NotNull(problem);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("amqp://rabbit")]
    [InlineData("amqps://user:pass@rabbit:5671/%2F?name=orders")]
    [InlineData("amqp://rabbit/shop")]
    public void Validate_GoodAddress_ReturnsNull(string address) => Assert.Null(AmqpAddress.Validate(new Uri(address)));

    [Fact]
    public void Resolve_Defaults_GuestLoginDefaultVirtualHostAndEndpointName()
    {
        var address = AmqpAddress.Resolve(new Uri("amqp://rabbit"), "orders", new AmqpTransportOptions());

        Assert.Equal("orders", address.Name);
        Assert.Equal("/", address.VirtualHost);
        Assert.Equal("guest", address.UserName);
        Assert.Equal("guest", address.Password);
        Assert.Equal(5672, Assert.Single(address.Endpoints).Port);
        Assert.False(address.Endpoints[0].Ssl.Enabled);
    }

    [Fact]
    public void Resolve_PasswordInOptions_TakesPrecedenceOverTheAddress()
    {
        var options = new AmqpTransportOptions { Password = "from-configuration" };

        var address = AmqpAddress.Resolve(new Uri("amqp://alice:in-address@rabbit/shop?name=billing"), "orders", options);

        Assert.Equal("alice", address.UserName);
        Assert.Equal("from-configuration", address.Password);
        Assert.Equal("shop", address.VirtualHost);
        Assert.Equal("billing", address.Name);
    }

    [Fact]
    public void Resolve_HostsAndTls_EndpointsInOrderWithTls()
    {
        var options = new AmqpTransportOptions();
        options.Hosts.Add("rabbit2");
        options.Hosts.Add("rabbit3:5999");

        var address = AmqpAddress.Resolve(new Uri("amqps://rabbit1"), "orders", options);

        Assert.Equal(["rabbit1:5671", "rabbit2:5671", "rabbit3:5999"], address.Endpoints.Select(e => $"{e.HostName}:{e.Port}"));
        Assert.All(address.Endpoints, e => Assert.True(e.Ssl.Enabled));
        Assert.Equal(address.Endpoints, address.Resolver.All());
    }

    [Fact]
    public void Validate_HostWithUserAndPassword_RefusedWithoutShowingThePassword()
    {
        var options = new AmqpTransportOptions();
        options.Hosts.Add("app:s3cret@rabbit2:5672");

        var result = new AmqpTransportOptionsValidator().Validate("orders", options);

        var failure = Assert.Single(result.Failures!);
        Assert.Equal("Ipc:Endpoints:orders:Amqp:Hosts:0: '***@rabbit2:5672' names a user: a node is only host or host:port (for example rabbit2:5672), as UserName and Password apply to every node.", failure);
    }

    [Fact]
    public void Validate_HostSetInCode_NamesThePropertyAndEndpointNotAKey()
    {
        var services = new ServiceCollection();
        services.AddIpc();
        using var provider = services.BuildServiceProvider();
        var options = new AmqpTransportOptions();
        options.Hosts.Add("rabbit2:notaport");

        var result = new AmqpTransportOptionsValidator(provider).Validate("orders", options);

        Assert.Equal(["AmqpTransportOptions.Hosts[0] of endpoint 'orders' (set in code): 'rabbit2:notaport' is not a host or host:port (for example rabbit2 or rabbit2:5672)."], result.Failures);
    }

    [Fact]
    public void Validate_OptionsWithBadHostAndMissingCertificate_NameTheKeys()
    {
        var options = new AmqpTransportOptions { Prefetch = 0 };
        options.Hosts.Add("rabbit2:notaport");
        options.Tls.ClientCertificatePath = "/no/such/file.p12";

        var result = new AmqpTransportOptionsValidator().Validate("orders", options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Ipc:Endpoints:orders:Amqp:Hosts:0:", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Ipc:Endpoints:orders:Amqp:Tls:ClientCertificatePath", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Prefetch", StringComparison.Ordinal));
    }

    [Fact]
    public void ToProperties_Request_CarriesStandardPropertiesAndHeaders()
    {
        var message = new IpcMessage("price", new byte[] { 1 }) { ContentType = "application/json", CorrelationId = "conversation-1", Timeout = TimeSpan.FromMilliseconds(1500.2) };
        message.Headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        var properties = AmqpMessages.ToProperties(message, "call-7", persistent: false);

        Assert.Equal("price", properties.Type);
        Assert.Equal(message.MessageId, properties.MessageId);
        Assert.Equal("call-7", properties.CorrelationId);
        Assert.Equal(AmqpTopology.DirectReplyTo, properties.ReplyTo);
        Assert.Equal("application/json", properties.ContentType);
        Assert.Equal("1501", properties.Expiration);
        Assert.Equal(DeliveryModes.Transient, properties.DeliveryMode);
        Assert.Equal("conversation-1"u8.ToArray(), properties.Headers![AmqpMessages.CorrelationIdHeader]);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"u8.ToArray(), properties.Headers!["traceparent"]);
    }

    [Fact]
    public void Remaining_ExpirationAndDeadline_TakesTheSmallerAndSurvivesAnyValueASenderPutsThere()
    {
        const long now = 1_800_000_000_000;
        static BasicProperties With(string? expiration, object? deadline) => new()
        {
            Expiration = expiration,
            Headers = deadline is null ? null : new Dictionary<string, object?> { [AmqpMessages.DeadlineHeader] = deadline },
        };

        Assert.Equal(40_000, AmqpMessages.Remaining(With("60000", now + 40_000), now)); // waited 20 s in the queue
        Assert.Equal(60_000, AmqpMessages.Remaining(With("60000", now + 90_000), now)); // a clock behind never adds time
        Assert.Equal(-5_000, AmqpMessages.Remaining(With("60000", now - 5_000), now)); // past its deadline
        Assert.Equal(60_000, AmqpMessages.Remaining(With("60000", now + 40_000), now: null)); // the deadline unused
        Assert.Equal(60_000, AmqpMessages.Remaining(With("60000", "not a number"u8.ToArray()), now));
        Assert.Equal(30_000, AmqpMessages.Remaining(With(null, now + 30_000), now)); // a deadline alone
        Assert.Null(AmqpMessages.Remaining(With(null, null), now));
        Assert.Equal(int.MaxValue, AmqpMessages.Remaining(With("9223372036854775807", long.MaxValue), now));
        Assert.Equal(-int.MaxValue, AmqpMessages.Remaining(With("60000", long.MinValue), now));

        var message = AmqpMessages.FromDelivery(With("9223372036854775807", null), new byte[] { 1 }, "price", isRequest: true, now);
        Assert.Equal(TimeSpan.FromMilliseconds(int.MaxValue), message.Timeout);
    }

    [Fact]
    public void ToProperties_WithADeadline_CarriesItBesideTheExpiration()
    {
        var message = new IpcMessage("price", new byte[] { 1 }) { Timeout = TimeSpan.FromMilliseconds(1500.2) };
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

        var properties = AmqpMessages.ToProperties(message, "call-7", persistent: false, AmqpMessages.Deadline(now, message.Timeout.Value));

        Assert.Equal("1501", properties.Expiration);
        Assert.Equal(1_800_000_001_501L, properties.Headers![AmqpMessages.DeadlineHeader]);
        Assert.Null(AmqpMessages.ToProperties(new IpcMessage("price"), "call-8", persistent: false, deadline: 1_800_000_001_501L).Headers); // no timeout, no deadline
    }

    [Fact]
    public void ToProperties_CorrelationIdsThatAreTheDefaults_TravelWithoutHeadersAndAreReadBack()
    {
        var request = new IpcMessage("price", new byte[] { 1 });
        request.CorrelationId = request.MessageId;
        var oneWay = new IpcMessage("note", new byte[] { 1 });
        oneWay.CorrelationId = oneWay.MessageId;

        var requestProperties = AmqpMessages.ToProperties(request, request.MessageId, persistent: false);
        var oneWayProperties = AmqpMessages.ToProperties(oneWay, callId: null, persistent: true);

        Assert.Null(requestProperties.Headers);
        Assert.Equal(request.MessageId, requestProperties.CorrelationId);
        Assert.Null(oneWayProperties.Headers);
        Assert.Null(oneWayProperties.CorrelationId);
        Assert.Equal(request.MessageId, AmqpMessages.FromDelivery(requestProperties, request.Body, string.Empty, isRequest: true).CorrelationId);
        Assert.Equal(oneWay.MessageId, AmqpMessages.FromDelivery(oneWayProperties, oneWay.Body, string.Empty, isRequest: false).CorrelationId);

        var response = new IpcMessage("price", new byte[] { 2 }) { CorrelationId = request.MessageId };
        var replyProperties = AmqpMessages.ToReplyProperties(response, request.MessageId, request.CorrelationId);
        Assert.Null(replyProperties.Headers);
        Assert.Equal(request.MessageId, AmqpMessages.FromReply(replyProperties, response.Body, "price", request.CorrelationId).CorrelationId);

        response.CorrelationId = "another-conversation";
        replyProperties = AmqpMessages.ToReplyProperties(response, request.MessageId, request.CorrelationId);
        Assert.Equal("another-conversation", AmqpMessages.FromReply(replyProperties, response.Body, "price", request.CorrelationId).CorrelationId);
    }
}
