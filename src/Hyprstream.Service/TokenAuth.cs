using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Service;

/// <summary>
/// Bearer tokens. With no tokens configured every call is allowed (the service then only listens on loopback).
/// With tokens, every call but Handshake needs `authorization: Bearer &lt;token&gt;`. Handshake accepts the token as
/// its payload, as BasicAuth.password, as a bearer header, or as the password of `authorization: Basic …` (what
/// pyarrow's authenticate_basic_token sends), and answers with the token in the payload and in an
/// `authorization: Bearer` response header. An empty or blank token is refused (ArgumentException): it would look
/// like auth while letting every call in.
/// </summary>
public sealed class TokenAuth
{
    private readonly byte[][] _tokens;

    public TokenAuth(IReadOnlyCollection<string> tokens)
    {
        foreach (var t in tokens) Check(t, "a token");
        _tokens = tokens.Select(Encoding.UTF8.GetBytes).ToArray();
    }

    public bool Enabled => _tokens.Length > 0;

    /// <summary>How many tokens are accepted.</summary>
    public int Count => _tokens.Length;

    /// <summary>The auth mode in words, for the start-up banner and logs.</summary>
    public string Describe() => Enabled
        ? $"bearer token required, {Count} token{(Count == 1 ? "" : "s")} accepted"
        : "none, every call is allowed (loopback only)";

    /// <summary>
    /// Tokens from HYPRSTREAM_TOKENS (comma-separated, blanks around each trimmed) plus those given on the command
    /// line. A variable that is set but holds an empty entry ("", "a,", " ") and an empty or blank --token are
    /// refused with ArgumentException rather than silently dropped.
    /// </summary>
    public static IReadOnlyList<string> TokensFromEnvironment(IEnumerable<string>? extra = null)
    {
        var tokens = new List<string>();
        if (Environment.GetEnvironmentVariable("HYPRSTREAM_TOKENS") is { } env)
            foreach (var t in env.Split(',', StringSplitOptions.TrimEntries))
                tokens.Add(t.Length > 0 ? Check(t, "a token in HYPRSTREAM_TOKENS")
                    : throw new ArgumentException("HYPRSTREAM_TOKENS is set but holds an empty token: give comma-separated non-empty tokens, or unset it to serve without auth (loopback only)"));
        foreach (var t in extra ?? []) tokens.Add(Check(t, "--token"));
        return tokens;
    }

    private static string Check(string? token, string what)
    {
        if (string.IsNullOrWhiteSpace(token))
            throw new ArgumentException($"{what} is empty or blank: a bearer token needs at least one non-space character (omit it to serve without auth, loopback only)");
        if (token.Trim().Length != token.Length)
            throw new ArgumentException($"{what} has leading or trailing spaces, which a bearer header cannot carry");
        if (token.Any(char.IsControl))
            throw new ArgumentException($"{what} contains a control character, which a header cannot carry");
        return token;
    }

    public bool IsValid(ReadOnlySpan<byte> candidate)
    {
        bool ok = false;
        foreach (var t in _tokens) ok |= CryptographicOperations.FixedTimeEquals(t, candidate);
        return ok;
    }

    /// <summary>Every call but Handshake must carry a valid bearer token (when tokens are configured).</summary>
    public void Check(ServerCallContext context)
    {
        if (!Enabled) return;
        var header = context.RequestHeaders.GetValue("authorization") ?? "";
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw ErrorMapping.Status(StatusCode.Unauthenticated, "this server requires a bearer token (authorization: Bearer <token>); call Handshake first");
        if (!IsValid(Encoding.UTF8.GetBytes(header[7..].Trim())))
            throw ErrorMapping.Status(StatusCode.Unauthenticated, "the bearer token is not valid");
    }

    public async Task Handshake(IAsyncStreamReader<HandshakeRequest> requests, IServerStreamWriter<HandshakeResponse> responses, ServerCallContext context)
    {
        var request = await requests.MoveNext(context.CancellationToken) ? requests.Current : null;
        byte[]? token = null;
        if (!Enabled)
        {
            token = request?.Payload.ToByteArray() ?? [];
        }
        else
        {
            foreach (var candidate in Candidates(context, request))
                if (IsValid(candidate)) { token = candidate; break; }
            if (token == null) throw ErrorMapping.Status(StatusCode.Unauthenticated, "handshake failed: no valid token was presented");
            await context.WriteResponseHeadersAsync(new Metadata { { "authorization", "Bearer " + Encoding.UTF8.GetString(token) } });
        }
        await responses.WriteAsync(new HandshakeResponse { ProtocolVersion = request?.ProtocolVersion ?? 0, Payload = ByteString.CopyFrom(token) });
        while (await requests.MoveNext(context.CancellationToken)) { }
    }

    private static IEnumerable<byte[]> Candidates(ServerCallContext context, HandshakeRequest? request)
    {
        if (request != null && !request.Payload.IsEmpty)
        {
            yield return request.Payload.ToByteArray();
            BasicAuth? basic = null;
            try { basic = BasicAuth.Parser.ParseFrom(request.Payload); } catch (InvalidProtocolBufferException) { }
            if (basic != null && basic.Password.Length > 0) yield return Encoding.UTF8.GetBytes(basic.Password);
        }
        var header = context.RequestHeaders.GetValue("authorization") ?? "";
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
