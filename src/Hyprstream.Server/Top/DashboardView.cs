using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Hyprstream.Server.Top;

/// <summary>The dashboard's sections as Spectre.Console tables (a terminal) or as aligned plain text (anything else).</summary>
internal static class DashboardView
{
    public static IRenderable Render(string title, IReadOnlyList<DashboardSection> sections)
    {
        var items = new List<IRenderable> { new Markup($"[bold]{Markup.Escape(title)}[/]") };
        foreach (var s in sections)
        {
            var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(s.Title)}[/]");
            for (int i = 0; i < s.Headers.Length; i++)
                table.AddColumn(new TableColumn(Markup.Escape(s.Headers[i])) { Alignment = i == 0 ? Justify.Left : Justify.Right });
            foreach (var row in s.Rows) table.AddRow(row.Select(c => new Markup(Markup.Escape(c))).ToArray<IRenderable>());
            items.Add(table);
        }
        return new Rows(items);
    }

    public static string Plain(string title, IReadOnlyList<DashboardSection> sections)
    {
        var sb = new StringBuilder().AppendLine(title);
        foreach (var s in sections)
        {
            sb.AppendLine().AppendLine($"[{s.Title}]");
            var widths = s.Headers.Select((h, i) => Math.Max(h.Length, s.Rows.Max(r => i < r.Length ? r[i].Length : 0))).ToArray();
            sb.AppendLine(Line(s.Headers, widths));
            foreach (var r in s.Rows) sb.AppendLine(Line(r, widths));
        }
        return sb.ToString();
    }

    private static string Line(string[] cells, int[] widths) =>
        string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd();
}
