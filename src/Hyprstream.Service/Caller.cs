using System.Text;
using System.Text.RegularExpressions;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;

namespace Hyprstream.Service;

/// <summary>What a token may do: read (flights, stats, search), write (also DoPut and changing actions), admin (all).</summary>
public enum Role { Read, Write, Admin }

/// <summary>
/// Who makes a call: a role and, for tenant tokens, the tenant whose adapters it sees. Set once per call by the guard
/// in <see cref="FlightEndpoints"/> (in <see cref="ServerCallContext.UserState"/>) so handlers read it from the
/// context instead of taking it as a parameter. A tenant's adapter name N is stored as "TENANT@N" (<see
/// cref="Separator"/>); names go in through <see cref="In"/> and out through <see cref="Out"/>, so a tenant never
/// sees, and cannot write, another namespace. An unscoped caller (admin, and the no-token and single-token modes)
/// uses stored names as they are.
/// </summary>
public sealed record Caller(string? Tenant, Role Role)
{
    /// <summary>Separates a tenant from its adapters' names in the store: "acme@math-tutor".</summary>
    public const char Separator = '@';

    /// <summary>Full access to every stored name: admin tokens, and every call when no token is configured.</summary>
    public static readonly Caller Admin = new(null, Role.Admin);

    private static readonly object Key = typeof(Caller);

    /// <summary>True for tenant tokens: names are mapped, and only the tenant's adapters exist.</summary>
    public bool Scoped => Tenant != null;

    private string Prefix => Tenant + Separator;

    /// <summary>The caller the guard recorded for this call (admin when none was: no auth configured).</summary>
    public static Caller Of(ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var c) && c is Caller caller ? caller : Admin;

    internal void Attach(ServerCallContext context) => context.UserState[Key] = this;

    /// <summary>
    /// The stored name for a name this caller sent (validated). A tenant's name may not contain the separator, and the
    /// stored name must fit <see cref="AdapterNames.MaxLength"/>; both are INVALID_ARGUMENT, whatever exists.
    /// </summary>
    public string In(string name)
    {
        if (!Scoped) return AdapterNames.ValidateAdapter(name);
        if (name.Contains(Separator))
            throw ErrorMapping.Invalid($"adapter name {StatusText.Quote(name)} contains '{Separator}', which separates a tenant from its adapters' names; a tenant token's names may not contain it");
        AdapterNames.ValidateAdapter(name);
        int limit = AdapterNames.MaxLength - Encoding.UTF8.GetByteCount(Prefix);
        if (Encoding.UTF8.GetByteCount(name) > limit)
            throw ErrorMapping.Invalid($"adapter name {StatusText.Quote(name)} is {Encoding.UTF8.GetByteCount(name)} bytes in UTF-8; names of tenant '{Tenant}' are limited to {limit} bytes");
        return Prefix + name;
    }

    /// <summary>True when the stored name is one of this caller's adapters (every name for an unscoped caller).</summary>
    public bool Owns(string stored) => !Scoped || stored.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The name this caller knows a stored adapter by (only called for names it <see cref="Owns"/>).</summary>
    public string Out(string stored) => Scoped && Owns(stored) ? stored[Prefix.Length..] : stored;

    /// <summary>
    /// A status message or provenance text as this caller reads it: the tenant's own prefix removed wherever a stored
    /// name appears (a tenant only ever reaches its own names, so that is the only prefix a message can hold).
    /// </summary>
    public string TextOut(string text) =>
        !Scoped || !text.Contains(Prefix, StringComparison.Ordinal) ? text
            : Regex.Replace(text, $"(?<![A-Za-z0-9._-]){Regex.Escape(Prefix)}", "");

    /// <summary>The tenant of a stored name ("acme" for "acme@x"), or null when it has no valid tenant prefix.</summary>
    public static string? TenantOf(string stored)
    {
        int at = stored.IndexOf(Separator);
        return at > 0 && TenantNames.IsValid(stored[..at]) ? stored[..at] : null;
    }

    /// <summary>PERMISSION_DENIED unless the caller's role is at least <paramref name="needed"/>.</summary>
    public void Require(Role needed, string what)
    {
        if (Role >= needed) return;
        throw ErrorMapping.Denied(needed == Role.Admin
            ? $"{what} needs an admin token; this token's role is {RoleName(Role)}"
            : $"{what} changes adapters and needs a write or admin token; this token's role is {RoleName(Role)}");
    }

    public static string RoleName(Role r) => r.ToString().ToLowerInvariant();
}
