using Ipc.Transports;

namespace Ipc.Tests;

public sealed class IpcTransportContextTests
{
    [Theory]
    [InlineData("amqp://app:s3cret@broker:5672/orders?name=eu", "amqp://app:***@broker:5672/orders?name=eu")]
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

    private sealed class EmptyServices : IServiceProvider
    {
        public static readonly EmptyServices Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
