using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Server.Service;

/// <summary>
/// Bearer tokens. With no tokens configured every call is allowed (the service then only listens on loopback).
/// With tokens, every call but Handshake needs `authorization: Bearer &lt;token&gt;`. Handshake accepts the token as
/// its payload, as BasicAuth.password, as a bearer header, or as the password of `authorization: Basic …` (what
/// pyarrow's authenticate_basic_token sends), and answers with the token in the payload and in an
/// `authorization: Bearer` response header.
/// </summary>
public sealed class TokenAuth(IReadOnlyCollection<string> tokens)
{
    private readonly byte[][] _tokens = tokens.Where(t => t.Length > 0).Select(Encoding.UTF8.GetBytes).ToArray();

    public bool Enabled => _tokens.Length > 0;

    /// <summary>Tokens from HYPRSTREAM_TOKENS (comma-separated) plus those given on the command line.</summary>
    public static IReadOnlyList<string> TokensFromEnvironment(IEnumerable<string>? extra = null)
    {
        var env = Environment.GetEnvironmentVariable("HYPRSTREAM_TOKENS") ?? "";
        return env.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Concat(extra ?? []).ToList();
    }

    public bool IsValid(ReadOnlySpan<byte> candidate)
    {
        bool ok = false;
        foreach (var t in _tokens) ok |= CryptographicOperations.FixedTimeEquals(t, candidate);
        return ok;
    }

    /// <summary>The router's interceptor: every call except Handshake must carry a valid bearer token.</summary>
    public ValueTask CheckAsync(GrpcServerCall call)
    {
        if (!Enabled || call.Method == "Handshake") return ValueTask.CompletedTask;
        var header = call.RequestHeaders.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw new GrpcException(GrpcStatusCode.Unauthenticated, "this server requires a bearer token (authorization: Bearer <token>); call Handshake first");
        if (!IsValid(Encoding.UTF8.GetBytes(header[7..].Trim())))
            throw new GrpcException(GrpcStatusCode.Unauthenticated, "the bearer token is not valid");
        return ValueTask.CompletedTask;
    }

    public async Task HandshakeAsync(GrpcServerCall call)
    {
        var request = await call.ReadAsync(HandshakeRequest.Parser);
        byte[]? token = null;
        if (!Enabled)
        {
            token = request?.Payload.ToByteArray() ?? [];
        }
        else
        {
            foreach (var candidate in Candidates(call, request))
                if (IsValid(candidate)) { token = candidate; break; }
            if (token == null) throw new GrpcException(GrpcStatusCode.Unauthenticated, "handshake failed: no valid token was presented");
            call.ResponseHeaders.Authorization = "Bearer " + Encoding.UTF8.GetString(token);
        }
        await call.WriteAsync(new HandshakeResponse { ProtocolVersion = request?.ProtocolVersion ?? 0, Payload = ByteString.CopyFrom(token) });
        while (await call.ReadMessageAsync() != null) { }
    }

    private static IEnumerable<byte[]> Candidates(GrpcServerCall call, HandshakeRequest? request)
    {
        if (request != null && !request.Payload.IsEmpty)
        {
            yield return request.Payload.ToByteArray();
            BasicAuth? basic = null;
            try { basic = BasicAuth.Parser.ParseFrom(request.Payload); } catch (InvalidProtocolBufferException) { }
            if (basic != null && basic.Password.Length > 0) yield return Encoding.UTF8.GetBytes(basic.Password);
        }
        var header = call.RequestHeaders.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) yield return Encoding.UTF8.GetBytes(header[7..].Trim());
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            string decoded = "";
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim())); } catch (FormatException) { }
            int colon = decoded.IndexOf(':');
            if (colon >= 0) yield return Encoding.UTF8.GetBytes(decoded[(colon + 1)..]);
        }
    }
}
