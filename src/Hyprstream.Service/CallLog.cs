using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// What the service logs about Flight calls: each call runs in a scope carrying its request id (Kestrel's
/// connection:stream identifier, unique per call) and method; a refused call (any status but OK) is one event with
/// its status and reason, at warning for the caller's mistakes and error for the server's faults.
/// </summary>
internal static partial class CallLog
{
    public static string RequestId(ServerCallContext context) =>
        context.GetHttpContext()?.TraceIdentifier ?? Guid.NewGuid().ToString("N");

    private static readonly Func<ILogger, string, string, IDisposable?> CallScope =
        LoggerMessage.DefineScope<string, string>("request {RequestId} {Method}");

    /// <summary>The call's scope: text logs show "request ID METHOD", JSON logs RequestId and Method properties.</summary>
    public static IDisposable? Scope(ILogger log, string requestId, string method) => CallScope(log, requestId, method);

    public static void Refused(ILogger log, string method, StatusCode status, string reason)
    {
        if (status is StatusCode.Internal or StatusCode.DataLoss or StatusCode.Unknown) Failed(log, method, status, reason);
        else if (status is StatusCode.Cancelled) Cancelled(log, method, reason);
        else Rejected(log, method, status, reason);
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "{Method} refused: {Status}: {Reason}")]
    private static partial void Rejected(ILogger log, string method, StatusCode status, string reason);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "{Method} failed: {Status}: {Reason}")]
    private static partial void Failed(ILogger log, string method, StatusCode status, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Debug, Message = "{Method} cancelled by the client: {Reason}")]
    private static partial void Cancelled(ILogger log, string method, string reason);
}
