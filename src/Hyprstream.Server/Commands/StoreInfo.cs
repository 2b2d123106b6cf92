using System.Text.Json;
using Hyprstream.Runtime.Store;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream info --store DIR`: recovers a store in memory (read-only), then prints its WAL, snapshot and cache numbers and any quarantined adapters.</summary>
internal static class StoreInfo
{
    /// <summary>The store directory a command was given: a store itself, or a service data directory holding one in .store.</summary>
    public static string Resolve(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"no store directory '{dir}'");
        var inner = Path.Combine(dir, Service.ServiceStore.StoreFolder);
        if (!AdapterStore.IsStore(dir) && AdapterStore.IsStore(inner)) return inner;
        if (!AdapterStore.IsStore(dir))
            throw new InvalidDataException($"{Path.GetFullPath(dir)} is not a hyprstream store or a service data directory (no {StoreManifest.FileName}, no wal/, no {Service.ServiceStore.StoreFolder}/)");
        return dir;
    }

    public static int Print(string dir, bool json)
    {
        dir = Resolve(dir);
        // Read-only: looking at a store (even one a server has open) changes nothing on disk.
        using var store = AdapterStore.OpenReadOnly(dir);
        var st = store.Stats();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { store = store.Directory, adapters = store.Names, quarantined = store.Quarantined, stats = st }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(store.Directory)}[/]  {st.Adapters} adapters");
        AnsiConsole.MarkupLine($"recovery: {Markup.Escape(st.Recovery.ToString())}");
        AnsiConsole.MarkupLine($"WAL: {st.WalBytes:N0} bytes on disk, last sequence {st.LastSequence}; checkpoints: {st.CheckpointBytes:N0} bytes");
        var table = new Table().AddColumns("tier", "budget", "resident", "entries", "hits", "promotions", "evictions");
        foreach (var t in st.Cache.Tiers)
            table.AddRow(t.Tier.ToString(), t.BudgetBytes.ToString("N0"), t.ResidentBytes.ToString("N0"), t.Entries.ToString(), t.Hits.ToString(), t.Promotions.ToString(), t.Evictions.ToString());
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"lookups {st.Cache.Lookups}, misses {st.Cache.Misses} (cold loads {st.Cache.ColdLoads}), write-backs {st.Cache.WriteBacks}, pinned {st.Cache.Pinned}");
        foreach (var q in store.Quarantined)
            AnsiConsole.MarkupLine($"  [red]QUARANTINED[/] {Markup.Escape(q.Name)}: {Markup.Escape(q.Reason)} (run `hyprstream store repair`)");
        foreach (var name in store.Names)
        {
            var (tags, emb) = store.Description(name);
            AnsiConsole.MarkupLine($"  {Markup.Escape(name)}  tier {store.TierOf(name)?.ToString() ?? "disk"}" +
                                   (tags.Length > 0 ? $"  tags {Markup.Escape(string.Join(",", tags))}" : "") + (emb != null ? $"  embedding of {emb.Length} floats" : ""));
        }
        return 0;
    }
}
