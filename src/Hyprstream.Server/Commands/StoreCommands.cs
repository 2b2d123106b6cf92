using System.CommandLine;
using System.Text.Json;
using Hyprstream.Runtime.Store;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>
/// `hyprstream store repair DIR`: the way out for quarantined adapters (a WAL record of theirs could not be replayed).
/// Each is restored to its state just before the first record that cannot be applied, or removed with --drop.
/// Run with the server stopped (the store allows one process).
/// </summary>
internal static class StoreCommands
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "a store directory, or a service data directory (its store is DIR/.store)" };
        var adapter = new Option<string[]>("--adapter") { Description = "repair only these adapters (repeatable; default: every quarantined adapter)" };
        var drop = new Option<bool>("--drop") { Description = "delete the quarantined adapters instead of restoring them" };
        var json = new Option<bool>("--json") { Description = "print the report as JSON" };
        var repair = new Command("repair", "Restore (or with --drop delete) quarantined adapters of a stopped store") { dir, adapter, drop, json };
        repair.SetAction(r => Repair(StoreInfo.Resolve(r.GetValue(dir)!), r.GetValue(adapter) ?? [], r.GetValue(drop), r.GetValue(json)));
        return new Command("store", "Maintain an adapter store") { repair };
    }

    private static int Repair(string dir, string[] only, bool drop, bool json)
    {
        using var store = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
        var quarantined = store.Quarantined;
        foreach (var name in only)
            if (quarantined.All(q => q.Name != name))
                throw new ArgumentException($"adapter '{name}' is not quarantined in {store.Directory}");
        var todo = quarantined.Where(q => only.Length == 0 || only.Contains(q.Name)).ToList();
        var reports = todo.Select(q => store.Repair(q.Name, drop)).ToList();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { store = store.Directory, repaired = reports }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        if (reports.Count == 0)
        {
            AnsiConsole.MarkupLine($"{Markup.Escape(store.Directory)}: no quarantined adapters; nothing to do");
            return 0;
        }
        foreach (var (q, rep) in todo.Zip(reports))
        {
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(rep.Name)}[/] (quarantined: {Markup.Escape(q.Reason)})");
            AnsiConsole.MarkupLine(rep.Restored
                ? $"  restored with {rep.ActiveWeights:N0} weights: {rep.RecordsApplied} records replayed onto its last checkpoint, {rep.RecordsDropped} dropped"
                : $"  removed ({(drop ? "--drop" : "nothing was left to restore")}); {rep.RecordsDropped} records dropped");
            if (rep.FirstFailure != null) AnsiConsole.MarkupLine($"  first record that could not be applied: {Markup.Escape(rep.FirstFailure)}");
            if (rep.KeptAt != null) AnsiConsole.MarkupLine($"  its records are kept in {Markup.Escape(rep.KeptAt)}");
        }
        return 0;
    }
}
