using Grpc.Core;
using Hyprstream.Flight;

namespace Hyprstream.Service;

/// <summary>
/// Maps the runtime's exceptions to gRPC statuses so every failure reaches the client with a clear message, and
/// bounds every status message (<see cref="StatusText.Bound"/>): this is the one place a call's status is made.
/// </summary>
internal static class ErrorMapping
{
    /// <summary>Runs a handler; whatever it throws leaves as an RpcException with a bounded, printable message.</summary>
    public static async Task<T> Guard<T>(ServerCallContext context, Func<Task<T>> handler, Action<string, Exception>? onError)
    {
        try { return await handler().ConfigureAwait(false); }
        catch (RpcException e) { throw new RpcException(new Grpc.Core.Status(e.StatusCode, StatusText.Bound(e.Status.Detail)), e.Trailers); } // trailers kept (a follower names its leader there)
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(context.Deadline < DateTime.UtcNow ? StatusCode.DeadlineExceeded : StatusCode.Cancelled, "call cancelled"));
        }
        catch (Exception e) when (Map(e) is { } mapped) { throw mapped; }
        catch (Exception e) when (context.CancellationToken.IsCancellationRequested)
        {
            // The client went away mid-call (a reset stream surfaces as an I/O error): nobody to tell.
            throw new RpcException(new Status(StatusCode.Cancelled, $"call cancelled ({e.GetType().Name})"));
        }
        catch (Exception e)
        {
            onError?.Invoke(context.Method, e);
            throw Bounded(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}");
        }
    }

    public static RpcException? Map(Exception e) => e switch
    {
        Hyprstream.Runtime.Store.StoreDamagedException => Bounded(StatusCode.DataLoss, e.Message),
        Hyprstream.Runtime.Store.StoreUnavailableException => Bounded(StatusCode.Unavailable, e.Message),
        KeyNotFoundException or FileNotFoundException => Bounded(StatusCode.NotFound, e.Message),
        ArgumentException or InvalidDataException or NotSupportedException or FormatException or System.Text.Json.JsonException or OverflowException
            => Bounded(StatusCode.InvalidArgument, e.Message),
        InvalidOperationException or ObjectDisposedException => Bounded(StatusCode.FailedPrecondition, e.Message),
        _ => null,
    };

    public static RpcException Status(StatusCode code, string what) => Bounded(code, what);
    public static RpcException NotFound(string what) => Bounded(StatusCode.NotFound, what);
    public static RpcException Invalid(string what) => Bounded(StatusCode.InvalidArgument, what);
    public static RpcException Denied(string what) => Bounded(StatusCode.PermissionDenied, what);

    private static RpcException Bounded(StatusCode code, string message) => new(new Grpc.Core.Status(code, StatusText.Bound(message)));
}
