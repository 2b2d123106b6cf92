namespace Hyprstream.Runtime.Index;

/// <summary>
/// Which adapters a search may return, tested while the graph is walked (not afterwards), so a selective filter
/// still returns k results. Tags are free strings; a tenant is the tag "tenant=&lt;name&gt;".
/// </summary>
public sealed record IndexFilter
{
    /// <summary>Every one of these tags must be present.</summary>
    public IReadOnlyList<string> AllOf { get; init; } = [];
    /// <summary>When not empty, at least one of these tags must be present.</summary>
    public IReadOnlyList<string> AnyOf { get; init; } = [];
    public string? Tenant { get; init; }

    internal bool Matches(IReadOnlySet<string> tags) =>
        AllOf.All(tags.Contains) && (AnyOf.Count == 0 || AnyOf.Any(tags.Contains)) && (Tenant == null || tags.Contains("tenant=" + Tenant));
}
