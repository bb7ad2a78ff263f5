namespace Ipc.Transports;

/// <summary>
/// Tells a response whose headers were over SocketsHttpHandler's <c>MaxResponseHeadersLength</c> (64 KiB by default) from
/// a lost connection. HttpClient reports headers that add up to more as <see cref="HttpRequestError.ConfigurationLimitExceeded"/>,
/// but one HTTP/2 header over the limit on its own as an error of its HPACK decoder, an internal type with no error code,
/// known by its name and its message. Another try would only get the same answer.
/// </summary>
internal static class ResponseHeaderLimit
{
    /// <summary>Returns the exception in <paramref name="exception"/>'s chain that says the response's headers were over the limit, if any.</summary>
    public static Exception? Find(Exception? exception)
    {
        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException { HttpRequestError: HttpRequestError.ConfigurationLimitExceeded }
                or HttpIOException { HttpRequestError: HttpRequestError.ConfigurationLimitExceeded }
                || (inner.GetType().Name == "HPackDecodingException" && inner.Message.Contains("exceeded the set limit", StringComparison.Ordinal)))
            {
                return inner;
            }
        }

        return null;
    }
}
