using Hyprstream.Flight.Grpc;

namespace Hyprstream.Service;

/// <summary>Maps the runtime's exceptions to gRPC statuses so every failure reaches the client with a clear message.</summary>
internal static class ErrorMapping
{
    public static GrpcMethodHandler Guard(GrpcMethodHandler handler) => async call =>
    {
        try { await handler(call); }
        catch (GrpcException) { throw; }
        catch (OperationCanceledException) { throw; }
        catch (Exception e) when (Map(e) is { } mapped) { throw mapped; }
    };

    public static GrpcException? Map(Exception e) => e switch
    {
        Hyprstream.Runtime.Store.StoreDamagedException => new GrpcException(GrpcStatusCode.DataLoss, e.Message),
        KeyNotFoundException or FileNotFoundException => new GrpcException(GrpcStatusCode.NotFound, e.Message),
        ArgumentException or InvalidDataException or NotSupportedException or FormatException or System.Text.Json.JsonException or OverflowException
            => new GrpcException(GrpcStatusCode.InvalidArgument, e.Message),
        InvalidOperationException or ObjectDisposedException => new GrpcException(GrpcStatusCode.FailedPrecondition, e.Message),
        _ => null,
    };

    public static GrpcException NotFound(string what) => new(GrpcStatusCode.NotFound, what);
    public static GrpcException Invalid(string what) => new(GrpcStatusCode.InvalidArgument, what);
}
