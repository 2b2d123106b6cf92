namespace Hyprstream.Server.Top;

/// <summary>One table of the dashboard: a title, column headers and rows of text (rendered by Spectre or as plain text).</summary>
internal sealed record DashboardSection(string Title, string[] Headers, List<string[]> Rows);
