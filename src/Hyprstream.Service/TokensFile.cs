using System.Text.Json;

namespace Hyprstream.Service;

/// <summary>
/// `serve --tokens-file FILE`: {"tokens": [{"token": "…", "tenant": "acme", "role": "write"}, {"token": "…", "role":
/// "admin"}]}. Every entry is checked before the server starts; anything wrong is an ArgumentException naming the
/// file and the entry (tokens[i], with its tenant when known) — never the token itself, which is a secret.
/// </summary>
public static class TokensFile
{
    private static readonly string[] EntryFields = ["token", "tenant", "role"];

    public static IReadOnlyList<TokenGrant> Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"tokens file {path}: cannot be read: {e.Message}");
        }
        return Parse(text, path);
    }

    public static IReadOnlyList<TokenGrant> Parse(string json, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw Bad(source, $"is not JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("tokens", out var list) || list.ValueKind != JsonValueKind.Array)
                throw Bad(source, "must be a JSON object with a \"tokens\" array: {\"tokens\": [{\"token\": \"…\", \"tenant\": \"acme\", \"role\": \"read\"|\"write\"|\"admin\"}]}");
            foreach (var p in root.EnumerateObject())
                if (p.Name != "tokens") throw Bad(source, $"has an unknown field \"{p.Name}\" (only \"tokens\")");
            if (list.GetArrayLength() == 0) throw Bad(source, "holds no tokens (\"tokens\" is empty)");

            var grants = new List<TokenGrant>();
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            int i = 0;
            foreach (var e in list.EnumerateArray())
            {
                var grant = Entry(e, source, i);
                if (seen.TryGetValue(grant.Token, out var first))
                    throw Bad(source, $"{Label(i, grant.Tenant)} has the same token as tokens[{first}]; every token must be different");
                seen[grant.Token] = i;
                grants.Add(grant);
                i++;
            }
            return grants;
        }
    }

    private static TokenGrant Entry(JsonElement e, string source, int i)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad(source, $"tokens[{i}] must be an object {{\"token\", \"tenant\", \"role\"}}");
        string? tenant = Text(e, "tenant", source, i, null);
        var at = Label(i, tenant);
        foreach (var p in e.EnumerateObject())
            if (!EntryFields.Contains(p.Name)) throw Bad(source, $"{at} has an unknown field \"{p.Name}\" (fields: token, tenant, role)");
        var token = Text(e, "token", source, i, tenant) ?? throw Bad(source, $"{at} has no \"token\"");
        try { TokenAuth.CheckToken(token, $"the token of {at}"); }
        catch (ArgumentException x) { throw Bad(source, x.Message); }
        var roleName = Text(e, "role", source, i, tenant) ?? throw Bad(source, $"{at} has no \"role\" (read, write or admin)");
        var role = roleName switch
        {
            "read" => Role.Read,
            "write" => Role.Write,
            "admin" => Role.Admin,
            _ => throw Bad(source, $"{at} has an unknown role \"{roleName}\" (use read, write or admin)"),
        };
        if (tenant != null && !TenantNames.IsValid(tenant))
            throw Bad(source, $"tokens[{i}] has an invalid tenant {Hyprstream.Flight.StatusText.Quote(tenant)}: a tenant name is {TenantNames.Rule}");
        if (tenant == null && role != Role.Admin)
            throw Bad(source, $"{at} is a {roleName} token without a \"tenant\"; only admin tokens may omit it");
        if (tenant != null && role == Role.Admin)
            throw Bad(source, $"{at} is an admin token with a \"tenant\"; admin tokens see every tenant, so remove \"tenant\" (or give it the write role)");
        return new TokenGrant(token, tenant, role);
    }

    private static string? Text(JsonElement e, string key, string source, int i, string? tenant)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw Bad(source, $"{Label(i, key == "tenant" ? null : tenant)}: \"{key}\" must be a string");
        return v.GetString();
    }

    private static string Label(int i, string? tenant) =>
        tenant != null && TenantNames.IsValid(tenant) ? $"tokens[{i}] (tenant \"{tenant}\")" : $"tokens[{i}]";

    private static ArgumentException Bad(string source, string what) => new($"tokens file {source}: {what}");
}
