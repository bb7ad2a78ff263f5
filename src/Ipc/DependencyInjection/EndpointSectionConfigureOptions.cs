using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Ipc;

internal sealed class EndpointSectionConfigureOptions<TOptions>(IConfiguration ipcSection, string sectionName) : IConfigureNamedOptions<TOptions>
    where TOptions : class
{
    public void Configure(TOptions options) => Configure(Options.DefaultName, options);

    public void Configure(string? name, TOptions options)
    {
        ipcSection.GetSection("Transports").GetSection(sectionName).Bind(options);
        if (!string.IsNullOrEmpty(name))
        {
            ipcSection.GetSection("Endpoints").GetSection(name).GetSection(sectionName).Bind(options);
        }
    }
}
