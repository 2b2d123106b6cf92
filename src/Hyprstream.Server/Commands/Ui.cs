using System.Text.Json;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>Console output shared by the commands: a progress bar on a terminal, plain output when redirected, JSON for scripts.</summary>
internal static class Ui
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Json(object value) => Console.WriteLine(JsonSerializer.Serialize(value, Indented));

    /// <summary>Runs <paramref name="work"/> with a progress bar (terminal only) that it advances with report(done, total).</summary>
    public static T WithProgress<T>(string title, bool quiet, Func<Action<int, int>, T> work)
    {
        if (quiet || Console.IsOutputRedirected) return work((_, _) => { });
        T result = default!;
        AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: 1);
                result = work((done, total) =>
                {
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                });
            });
        return result;
    }

    public static void Line(string markup) => AnsiConsole.MarkupLine(markup);

    public static string E(string? s) => Markup.Escape(s ?? "-");

    public static void Write(Table table) => AnsiConsole.Write(table);

    /// <summary>Parses "1,0.5,2" into finite floats, naming the bad entry.</summary>
    public static float[] ParseList(string text, string option)
    {
        return text.Split(',', StringSplitOptions.TrimEntries).Select(s =>
            float.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && float.IsFinite(v)
                ? v : throw new ArgumentException($"{option}: '{s}' is not a finite number")).ToArray();
    }

    public static Runtime.SparsityStructure ParseStructure(string s) => s.ToLowerInvariant() switch
    {
        "tile" => Runtime.SparsityStructure.Tile,
        "unstructured" => Runtime.SparsityStructure.Unstructured,
        _ => throw new ArgumentException($"--structure must be tile or unstructured, not '{s}'"),
    };
}
