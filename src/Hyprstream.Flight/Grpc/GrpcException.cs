namespace Hyprstream.Flight.Grpc;

/// <summary>A call that ended with a non-OK gRPC status, on either side: handlers throw it, the client raises it.</summary>
public sealed class GrpcException(GrpcStatusCode status, string detail) : Exception($"{status}: {detail}")
{
    public GrpcStatusCode Status { get; } = status;
    public string Detail { get; } = detail;
}
