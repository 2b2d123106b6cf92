using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// The methods of arrow.flight.protocol.FlightService as grpc-dotnet <see cref="Method{TRequest,TResponse}"/>s, for a
/// server that binds them itself. Their request parsers turn a malformed protobuf into INVALID_ARGUMENT naming the
/// message (the generated ones fail with an exception the server reports as UNKNOWN).
/// </summary>
public static class FlightMethods
{
    public const string Service = "arrow.flight.protocol.FlightService";

    public static readonly Method<HandshakeRequest, HandshakeResponse> Handshake = Make(MethodType.DuplexStreaming, "Handshake", HandshakeRequest.Parser, HandshakeResponse.Parser);
    public static readonly Method<Criteria, FlightInfo> ListFlights = Make(MethodType.ServerStreaming, "ListFlights", Criteria.Parser, FlightInfo.Parser);
    public static readonly Method<FlightDescriptor, FlightInfo> GetFlightInfo = Make(MethodType.Unary, "GetFlightInfo", FlightDescriptor.Parser, FlightInfo.Parser);
    public static readonly Method<FlightDescriptor, PollInfo> PollFlightInfo = Make(MethodType.Unary, "PollFlightInfo", FlightDescriptor.Parser, PollInfo.Parser);
    public static readonly Method<FlightDescriptor, SchemaResult> GetSchema = Make(MethodType.Unary, "GetSchema", FlightDescriptor.Parser, SchemaResult.Parser);
    public static readonly Method<Ticket, FlightData> DoGet = Make(MethodType.ServerStreaming, "DoGet", Ticket.Parser, FlightData.Parser);
    /// <summary>DoPut's requests are read into pooled arrays (<see cref="PooledFlightData"/>): no new array per body.</summary>
    public static readonly Method<PooledFlightData, PutResult> DoPut = new(MethodType.DuplexStreaming, Service, "DoPut",
        PooledFlightData.Marshaller(StatusCode.InvalidArgument), Marshaller(PutResult.Parser));
    public static readonly Method<FlightData, FlightData> DoExchange = Make(MethodType.DuplexStreaming, "DoExchange", FlightData.Parser, FlightData.Parser);
    public static readonly Method<Protocol.Action, Result> DoAction = Make(MethodType.ServerStreaming, "DoAction", Protocol.Action.Parser, Result.Parser);
    public static readonly Method<Empty, ActionType> ListActions = Make(MethodType.ServerStreaming, "ListActions", Empty.Parser, ActionType.Parser);

    private static Method<TRequest, TResponse> Make<TRequest, TResponse>(MethodType type, string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        new(type, Service, name, Marshaller(request), Marshaller(response));

    /// <summary>
    /// DoGet as a client reads it fast: responses into pooled arrays (<see cref="PooledFlightData"/>; a malformed
    /// one is INTERNAL, the server's fault).
    /// </summary>
    public static readonly Method<Ticket, PooledFlightData> DoGetPooled = new(MethodType.ServerStreaming, Service, "DoGet",
        Marshaller(Ticket.Parser), PooledFlightData.Marshaller(StatusCode.Internal));

    /// <summary>Serializes a message straight into gRPC's buffer (what every marshaller here writes with).</summary>
    internal static void Write(IMessage message, SerializationContext context)
    {
        context.SetPayloadLength(message.CalculateSize());
        message.WriteTo(context.GetBufferWriter());
        context.Complete();
    }

    private static Marshaller<T> Marshaller<T>(MessageParser<T> parser) where T : class, IMessage<T> => Marshallers.Create<T>(
        Write,
        context =>
        {
            try { return parser.ParseFrom(context.PayloadAsReadOnlySequence()); }
            catch (InvalidProtocolBufferException e)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"malformed {typeof(T).Name} message: {e.Message}"));
            }
        });
}
