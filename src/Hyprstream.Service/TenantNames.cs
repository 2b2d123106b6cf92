namespace Hyprstream.Service;

/// <summary>
/// The rule for tenant names: 1–64 characters of A–Z, a–z, 0–9, '.', '_' and '-', starting with a letter or digit.
/// Plain ASCII, so a tenant reads the same everywhere, and never the separator, so "TENANT@name" splits one way.
/// </summary>
public static class TenantNames
{
    public const int MaxLength = 64;

    public const string Rule = "1–64 characters of A–Z, a–z, 0–9, '.', '_', '-', starting with a letter or digit";

    public static bool IsValid(string? tenant) =>
        tenant is { Length: > 0 and <= MaxLength } && char.IsAsciiLetterOrDigit(tenant[0]) && tenant.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
