namespace Hyprstream.Service;

/// <summary>One accepted bearer token and who it makes the caller: a role, and a tenant unless it is an admin token.</summary>
public sealed record TokenGrant(string Token, string? Tenant, Role Role)
{
    public Caller Caller { get; } = new(Tenant, Role);

    /// <summary>A token from --token or HYPRSTREAM_TOKENS: admin (full access, as the single-token mode always meant).</summary>
    public static TokenGrant AdminToken(string token) => new(token, null, Role.Admin);
}
