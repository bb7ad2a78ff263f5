using Ipc.Transports;

namespace Ipc.Tests;

public sealed class IpcTransportContextTests
{
    [Theory]
    [InlineData("amqp://app:s3cret@broker:5672/orders?name=eu", "amqp://app:***@broker:5672/orders?name=***")]
    [InlineData("http://127.0.0.1:5000/calc?region=eu&api_key=k1&code=c2&x=y", "http://127.0.0.1:5000/calc?region=***&api_key=***&code=***&x=***")]
    [InlineData("http://127.0.0.1:5000/calc?flag&empty=&a=1=2#frag", "http://127.0.0.1:5000/calc?flag&empty=***&a=***#frag")]
    [InlineData("http://app:s3cret@127.0.0.1:5000/calc?c=1", "http://app:***@127.0.0.1:5000/calc?c=***")]
    [InlineData("amqp://app:s3cret:more@broker", "amqp://app:***@broker")]
    [InlineData("amqps://app:p%40ss%2Fword@[::1]:5671/", "amqps://app:***@[::1]:5671/")]
    [InlineData("amqp://:s3cret@broker", "amqp://:***@broker")]
    [InlineData("amqp://app@broker", "amqp://app@broker")]
    [InlineData("amqp://broker:5672/", "amqp://broker:5672/")]
    [InlineData("http://127.0.0.1:5000/files/a@b:c", "http://127.0.0.1:5000/files/a@b:c")]
    [InlineData("unix:///run/calc.sock", "unix:///run/calc.sock")]
    public void DisplayAddress_IsTheAddressAsConfiguredWithoutItsPassword(string address, string shown)
    {
        var context = new IpcTransportContext("orders", new Uri(address), EmptyServices.Instance);

        Assert.Equal(shown, context.DisplayAddress);
    }

    [Theory]
    [InlineData("amqp://app:pa ss%@broker/vh?name=q", "amqp://app:***@broker/vh?name=***")]
    [InlineData("http://host/calc?code=s3cret&sig", "http://host/calc?code=***&sig")]
    [InlineData("not an address?password=s3cret&other=s3cret", "not an address?password=***&other=***")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void Redact_TextThatNeedNotBeAValidAddress_HidesEveryQueryValueAndThePassword(string? address, string shown)
    {
        Assert.Equal(shown, AddressText.Redact(address));
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public static readonly EmptyServices Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
