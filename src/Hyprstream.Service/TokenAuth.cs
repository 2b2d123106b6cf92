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
/// like auth while letting every call in. Each token carries a <see cref="Caller"/>: --token and HYPRSTREAM_TOKENS
/// are admin tokens, the tokens file (<see cref="TokensFile"/>) gives roles and tenants.
/// </summary>
public sealed class TokenAuth
{
    private readonly (byte[] Token, Caller Caller)[] _tokens;
    private readonly IReadOnlyList<TokenGrant> _grants;

    /// <summary>Admin tokens (--token, HYPRSTREAM_TOKENS) plus role and tenant tokens (--tokens-file).</summary>
    public TokenAuth(IReadOnlyCollection<string> tokens, IReadOnlyCollection<TokenGrant>? grants = null)
    {
        foreach (var t in tokens) Check(t, "a token");
        var all = tokens.Select(TokenGrant.AdminToken).ToList();
        foreach (var g in grants ?? [])
        {
            Check(g.Token, "a token");
            // The same token twice with different access would make its meaning depend on the order of the checks.
            if (all.FirstOrDefault(x => x.Token == g.Token) is { } other && other != g)
                throw new ArgumentException($"a token of the tokens file{(g.Tenant == null ? "" : $" (tenant \"{g.Tenant}\")")} is also given by --token or HYPRSTREAM_TOKENS (an admin token there); give each token once");
            all.Add(g);
        }
        _grants = all;
        _tokens = all.Select(g => (Encoding.UTF8.GetBytes(g.Token), g.Caller)).ToArray();
    }

    public bool Enabled => _tokens.Length > 0;

    /// <summary>How many tokens are accepted.</summary>
    public int Count => _tokens.Length;

    /// <summary>The auth mode in words, for the start-up banner and logs: tokens per role, and the tenants.</summary>
    public string Describe()
    {
        if (!Enabled) return "none, every call is allowed (loopback only)";
        var text = $"bearer token required, {Count} token{(Count == 1 ? "" : "s")} accepted";
        var roles = string.Join(", ", new[] { Role.Admin, Role.Write, Role.Read }
            .Select(r => (r, n: _grants.Count(g => g.Role == r))).Where(x => x.n > 0).Select(x => $"{x.n} {Caller.RoleName(x.r)}"));
        var tenants = _grants.Where(g => g.Tenant != null).Select(g => g.Tenant!).Distinct().Order(StringComparer.Ordinal).ToList();
        text += $" ({roles}";
        if (tenants.Count > 0)
            text += $"; {tenants.Count} tenant{(tenants.Count == 1 ? "" : "s")}: {string.Join(", ", tenants.Take(8))}{(tenants.Count > 8 ? ", …" : "")}";
        return text + ")";
    }

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

    /// <summary>ArgumentException naming <paramref name="what"/> unless the token can travel in a bearer header.</summary>
    internal static string CheckToken(string? token, string what) => Check(token, what);

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

    public bool IsValid(ReadOnlySpan<byte> candidate) => Find(candidate) != null;

    /// <summary>Who the token makes the caller, or null; every token is compared in constant time.</summary>
    private Caller? Find(ReadOnlySpan<byte> candidate)
    {
        Caller? found = null;
        foreach (var (t, caller) in _tokens)
            if (CryptographicOperations.FixedTimeEquals(t, candidate)) found ??= caller;
        return found;
    }

    /// <summary>
    /// Every call but Handshake must carry a valid bearer token (when tokens are configured); returns who the caller
    /// is (<see cref="Caller.Admin"/> without tokens: that mode allows everything).
    /// </summary>
    public Caller Check(ServerCallContext context)
    {
        if (!Enabled) return Caller.Admin;
        var header = context.RequestHeaders.GetValue("authorization") ?? "";
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw ErrorMapping.Status(StatusCode.Unauthenticated, "this server requires a bearer token (authorization: Bearer <token>); call Handshake first");
        return Find(Encoding.UTF8.GetBytes(header[7..].Trim()))
            ?? throw ErrorMapping.Status(StatusCode.Unauthenticated, "the bearer token is not valid");
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
