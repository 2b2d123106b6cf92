using System.Text.Json;
using Hyprstream.Runtime.Store;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream info --store DIR`: opens (and so recovers) a store, then prints its WAL, snapshot and cache numbers.</summary>
internal static class StoreInfo
{
    public static int Print(string dir, bool json)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"no store directory '{dir}'");
        // A service data directory keeps its store in .store.
        var inner = Path.Combine(dir, Service.ServiceStore.StoreFolder);
        if (!File.Exists(Path.Combine(dir, StoreManifest.FileName)) && Directory.Exists(inner)) dir = inner;
        using var store = AdapterStore.Open(dir, new StoreOptions { SnapshotWalBytes = 0 });
        var st = store.Stats();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { store = store.Directory, adapters = store.Names, stats = st }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(store.Directory)}[/]  {st.Adapters} adapters");
        AnsiConsole.MarkupLine($"recovery: {Markup.Escape(st.Recovery.ToString())}");
        AnsiConsole.MarkupLine($"WAL: {st.WalBytes:N0} bytes on disk, last sequence {st.LastSequence}; snapshots: {st.SnapshotBytes:N0} bytes");
        var table = new Table().AddColumns("tier", "budget", "resident", "entries", "hits", "promotions", "evictions");
        foreach (var t in st.Cache.Tiers)
            table.AddRow(t.Tier.ToString(), t.BudgetBytes.ToString("N0"), t.ResidentBytes.ToString("N0"), t.Entries.ToString(), t.Hits.ToString(), t.Promotions.ToString(), t.Evictions.ToString());
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"lookups {st.Cache.Lookups}, misses {st.Cache.Misses} (cold loads {st.Cache.ColdLoads}), Bloom rejects {st.Cache.BloomRejects}, write-backs {st.Cache.WriteBacks}, pinned {st.Cache.Pinned}");
        foreach (var name in store.Names)
        {
            var (tags, emb) = store.Description(name);
            AnsiConsole.MarkupLine($"  {Markup.Escape(name)}  tier {store.TierOf(name)?.ToString() ?? "disk"}" +
                                   (tags.Length > 0 ? $"  tags {Markup.Escape(string.Join(",", tags))}" : "") + (emb != null ? $"  embedding of {emb.Length} floats" : ""));
        }
        return 0;
    }
}
