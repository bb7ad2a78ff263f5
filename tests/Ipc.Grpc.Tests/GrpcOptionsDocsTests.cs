using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Grpc.Tests;

/// <summary>The options tables of docs/grpc.md against <see cref="GrpcTransportOptions"/>, its <see cref="GrpcTlsOptions"/> and its validator.</summary>
public sealed class GrpcOptionsDocsTests
{
    private const string Document = "docs/grpc.md";

    /// <summary>How the tables write a default in words.</summary>
    private static readonly Dictionary<string, DefaultCheck> s_phrases = new(StringComparer.Ordinal)
    {
        ["the address's host"] = OptionsDocs.Null("the client uses the address's host"),
    };

    private static IReadOnlyList<OptionsRow> Rows => [.. OptionsDocs.Table(Document), .. OptionsDocs.Table(Document, "| Option (`Tls:`)")];

    [Fact]
    public void OptionsTables_NameEveryOptionWithItsBoundDefault()
    {
        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(OptionsDocs.Bound<GrpcTransportOptions>(ipc => ipc.AddGrpc()), Rows, s_phrases)
            .Concat(OptionsDocs.CheckCoverage(typeof(GrpcTransportOptions), Rows, document: Document)));
    }

    [Fact]
    public void OptionsTables_RangesAreWhatTheValidatorAccepts()
    {
        var (problems, checkedKeys, unstated) = OptionsDocs.CheckRanges(Rows, () => new GrpcTransportOptions(), new GrpcTransportOptionsValidator(), (key, options) =>
        {
            // The ping timeout may not be longer than the delay.
            if (key == nameof(GrpcTransportOptions.KeepAlivePingDelay))
            {
                options.KeepAlivePingTimeout = TimeSpan.FromSeconds(1);
            }
            else if (key == nameof(GrpcTransportOptions.KeepAlivePingTimeout))
            {
                options.KeepAlivePingDelay = TimeSpan.FromDays(1);
            }
        });

        OptionsDocs.AssertNone(problems);

        Assert.Equal(["KeepAlivePingDelay", "KeepAlivePingTimeout", "MaxConcurrentCallsPerConnection", "MaxConnections"], checkedKeys);

        // Written otherwise, so not checked here: "(at most 10 minutes)".
        Assert.Equal(["ShutdownTimeout"], unstated);
    }
}
