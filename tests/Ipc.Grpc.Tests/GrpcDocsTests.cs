namespace Ipc.Grpc.Tests;

public sealed class GrpcDocsTests
{
    [Fact]
    public void GrpcDoc_ShowsTheShippedProtoAsItIs()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Ipc.Abstractions.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Ipc.Abstractions.sln not found");
        }

        var proto = File.ReadAllText(Path.Combine(root, "src", "Ipc.Grpc", "Protos", "ipc.proto")).ReplaceLineEndings("\n").TrimEnd();
        var doc = File.ReadAllText(Path.Combine(root, "docs", "grpc.md")).ReplaceLineEndings("\n");

        Assert.Contains("```proto\n" + proto + "\n```", doc, StringComparison.Ordinal);
    }
}
