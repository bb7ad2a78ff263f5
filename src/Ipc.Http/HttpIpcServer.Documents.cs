using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
#if NET9_0_OR_GREATER
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
#endif

namespace Ipc.Http;

/// <summary>The health endpoint and the OpenAPI document.</summary>
internal sealed partial class HttpIpcServer
{
    /// <summary>
    /// <c>GET {base}/health</c>: the app's health checks (Microsoft.Extensions.Diagnostics.HealthChecks) and the endpoint's
    /// own (<c>ipc-server:{endpoint}</c>, unless the app's checks already have it from <c>AddIpc()</c>), as <c>{ "status": "healthy", "checks": [ { "name", "status" } ] }</c>; 503 when unhealthy.
    /// </summary>
    private async Task WriteHealthAsync(HttpContext context)
    {
        var service = _services.GetService<HealthCheckService>();
        var report = service is null ? null : await service.CheckHealthAsync(context.RequestAborted).ConfigureAwait(false);
        var self = _stopping.IsCancellationRequested ? HealthStatus.Unhealthy : HealthStatus.Healthy;
        var overall = report is null || report.Status > self ? self : report.Status;

        var http = context.Response;
        http.StatusCode = overall == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        http.ContentType = HttpWire.JsonMediaType;
        http.Headers.CacheControl = "no-store";
        var json = new Utf8JsonWriter(http.BodyWriter.AsStream(), HttpWire.JsonOptions);
        await using var disposeJson = json.ConfigureAwait(false);
        json.WriteStartObject();
        json.WriteString("status", Name(overall, top: true));
        json.WriteStartArray("checks");
        var selfName = "ipc-server:" + EndpointName; // the name AddHealthChecks().AddIpc() gives this endpoint's check
        if (report?.Entries.ContainsKey(selfName) != true)
        {
            json.WriteStartObject();
            json.WriteString("name", selfName);
            json.WriteString("status", Name(self, top: false));
            json.WriteEndObject();
        }

        if (report is not null)
        {
            foreach (var (name, entry) in report.Entries)
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteString("status", Name(entry.Status, top: false));
                // A description may name internal hosts, paths and errors, and this endpoint answers anyone: only with
                // detailed errors, as ASP.NET Core's own health endpoint writes none.
                if (_detailedErrors && entry.Description is { } description)
                {
                    json.WriteString("description", description);
                }

                json.WriteEndObject();
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);

        static string Name(HealthStatus status, bool top) => status switch
        {
            HealthStatus.Healthy => top ? "healthy" : "ok",
            HealthStatus.Degraded => "degraded",
            _ => "unhealthy",
        };
    }

#if NET9_0_OR_GREATER
    /// <summary><c>GET {base}/openapi.json</c>: the paths of this server in the generated document (OpenAPI 3.1).</summary>
    private async Task WriteOpenApiAsync(HttpContext context)
    {
        var provider = context.RequestServices.GetKeyedService<IOpenApiDocumentProvider>(OpenApiDocumentName);
        if (provider is null)
        {
            await WriteFaultAsync(context, new IpcFault(IpcErrorCode.NotSupported, "The app has no OpenAPI document for Ipc endpoints: register the Http transport with services.AddIpc() (it adds the document)."), StatusCodes.Status404NotFound).ConfigureAwait(false);
            return;
        }

        var document = await provider.GetOpenApiDocumentAsync(context.RequestAborted).ConfigureAwait(false);
        var prefix = BasePath + "/";
        if (document.Paths is { } paths)
        {
            foreach (var path in paths.Keys.Where(p => !p.StartsWith(prefix, StringComparison.Ordinal)).ToList())
            {
                paths.Remove(path);
            }
        }

        document.Info ??= new OpenApiInfo();
        document.Info.Title = $"Ipc endpoint '{EndpointName}'";
        document.Info.Description = $"Every route of the endpoint is POST {prefix}{{route}}. Bodies are {_bodies.Native.ContentType} or {HttpWire.JsonMediaType} (Content-Type and Accept); failures answer {{ \"error\": {{ \"code\", \"message\", \"details\" }} }}.";
        var text = await document.SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_1, context.RequestAborted).ConfigureAwait(false);
        context.Response.ContentType = HttpWire.JsonMediaType;
        await context.Response.WriteAsync(text, context.RequestAborted).ConfigureAwait(false);
    }
#endif
}
