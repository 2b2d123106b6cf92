using System.Globalization;

namespace Hyprstream.Server.Top;

/// <summary>
/// What `hyprstream top` shows, computed from two readings of /metrics a moment apart: rates are the change between
/// them per second; latency quantiles are of the calls that ended in between (since start on the first reading).
/// The metric names are the ones docs/observability.md lists.
/// </summary>
internal static class Dashboard
{
    public static List<DashboardSection> Build(Scrape now, Scrape? before)
    {
        double seconds = before == null ? 0 : Math.Max(1e-3, (now.At - before.At).TotalSeconds);
        double Rate(string name, Func<MetricSample, bool>? where = null) =>
            before == null ? double.NaN : Math.Max(0, now.Sum(name, where) - before.Sum(name, where)) / seconds;

        var sections = new List<DashboardSection>();

        var calls = new DashboardSection("Flight calls", ["method", "calls/s", "errors/s", "MB/s", "p50 ms", "p99 ms", "calls"], []);
        var methods = now.Samples.Where(m => m.Name == "hyprstream_flight_calls_total").Select(m => m.Label("method")).OfType<string>().Distinct().Order(StringComparer.Ordinal);
        foreach (var method in methods)
        {
            bool Mine(MetricSample m) => m.Label("method") == method;
            var buckets = now.Buckets("hyprstream_flight_call_duration_seconds", Mine);
            var earlier = before?.Buckets("hyprstream_flight_call_duration_seconds", Mine);
            // Quantiles over the last interval; with no call in it, over every call since start.
            bool recent = earlier != null && Quantiles.Of(0.5, buckets, earlier) != null;
            string bytes = method switch
            {
                "DoGet" => Mb(Rate("hyprstream_flight_sent_bytes_total")),
                "DoPut" => Mb(Rate("hyprstream_flight_received_bytes_total")),
                _ => "",
            };
            calls.Rows.Add([method, Num(Rate("hyprstream_flight_calls_total", Mine)), Num(Rate("hyprstream_flight_calls_total", m => Mine(m) && m.Label("status") != "OK")), bytes,
                Ms(Quantiles.Of(0.5, buckets, recent ? earlier : null)), Ms(Quantiles.Of(0.99, buckets, recent ? earlier : null)),
                Count(now.Sum("hyprstream_flight_calls_total", Mine))]);
        }
        if (calls.Rows.Count == 0) calls.Rows.Add(["(no calls yet)", "", "", "", "", "", ""]);
        sections.Add(calls);

        sections.Add(new DashboardSection("Store", ["adapters", "active weights", "sparsity", "quarantined", "weights in/s", "weights out/s", "checkpoints on disk", "WAL on disk"],
        [[
            Count(now.Sum("hyprstream_store_adapters")), Count(now.Sum("hyprstream_store_active_weights")),
            now.Sum("hyprstream_store_sparsity_ratio").ToString("P2", CultureInfo.InvariantCulture), Count(now.Sum("hyprstream_store_quarantined")),
            Num(Rate("hyprstream_flight_doput_weights_total")), Num(Rate("hyprstream_flight_doget_weights_total")),
            Bytes(now.Sum("hyprstream_store_disk_bytes", m => m.Label("kind") == "checkpoint")), Bytes(now.Sum("hyprstream_store_disk_bytes", m => m.Label("kind") == "wal")),
        ]]));

        var cache = new DashboardSection("Cache", ["tier", "resident / budget", "entries", "hits", "hit ratio", "evictions/s", "promotions/s"], []);
        double lookups = now.Sum("hyprstream_cache_lookups_total");
        foreach (var tier in new[] { "L1", "L2", "L3" })
        {
            bool Tier(MetricSample m) => m.Label("tier") == tier;
            double hits = now.Sum("hyprstream_cache_hits_total", Tier);
            cache.Rows.Add([tier, $"{Bytes(now.Sum("hyprstream_cache_resident_bytes", Tier))} / {Bytes(now.Sum("hyprstream_cache_budget_bytes", Tier))}",
                Count(now.Sum("hyprstream_cache_entries", Tier)), Count(hits), lookups == 0 ? "-" : (hits / lookups).ToString("P1", CultureInfo.InvariantCulture),
                Num(Rate("hyprstream_cache_evictions_total", Tier)), Num(Rate("hyprstream_cache_promotions_total", Tier))]);
        }
        cache.Rows.Add(["misses", "", "", Count(now.Sum("hyprstream_cache_misses_total")), lookups == 0 ? "-" : (now.Sum("hyprstream_cache_misses_total") / lookups).ToString("P1", CultureInfo.InvariantCulture),
            $"cold loads {Count(now.Sum("hyprstream_cache_cold_loads_total"))}", $"pinned {Count(now.Sum("hyprstream_cache_pinned"))}"]);
        sections.Add(cache);

        var fsync = now.Buckets("hyprstream_wal_fsync_duration_seconds");
        var fsyncBefore = before?.Buckets("hyprstream_wal_fsync_duration_seconds");
        sections.Add(new DashboardSection("WAL and checkpoints", ["appends/s", "MB/s", "fsyncs/s", "fsync p99 ms", "last sequence", "checkpoints", "failed in a row", "recovery"],
        [[
            Num(Rate("hyprstream_wal_appends_total")), Mb(Rate("hyprstream_wal_appended_bytes_total")), Num(Rate("hyprstream_wal_fsyncs_total")),
            Ms(Quantiles.Of(0.99, fsync, fsyncBefore is { } fb && Quantiles.Of(0.99, fsync, fb) != null ? fb : null)),
            Count(now.Sum("hyprstream_wal_last_sequence")), Count(now.Sum("hyprstream_checkpoints_total")), Count(now.Sum("hyprstream_checkpoint_failures_in_a_row")),
            $"{now.Sum("hyprstream_recovery_duration_seconds") * 1000:F0} ms, {Count(now.Sum("hyprstream_recovery_records_replayed"))} records",
        ]]));

        sections.Add(new DashboardSection("Process", ["state", "working set", "GC heap", "GCs (gen0/1/2)", "thread pool threads", "CPU s"],
        [[
            now.Readiness,
            Bytes(now.Sum("dotnet_process_memory_working_set_bytes")),
            Bytes(now.Sum("dotnet_gc_last_collection_heap_size_bytes")),
            string.Join("/", new[] { "gen0", "gen1", "gen2" }.Select(g => Count(now.Sum("dotnet_gc_collections_total", m => m.Label("gc_heap_generation") == g)))),
            Count(now.Sum("dotnet_thread_pool_thread_count_total")),
            now.Sum("dotnet_process_cpu_time_seconds_total").ToString("F1", CultureInfo.InvariantCulture),
        ]]));
        return sections;
    }

    private static string Num(double v) => double.IsNaN(v) ? "…" : v switch
    {
        >= 1e9 => (v / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " G",
        >= 1e6 => (v / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M",
        >= 1e4 => (v / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " k",
        _ => v.ToString("0.#", CultureInfo.InvariantCulture),
    };

    private static string Count(double v) => v.ToString("N0", CultureInfo.InvariantCulture);
    private static string Mb(double bytesPerSecond) => double.IsNaN(bytesPerSecond) ? "…" : (bytesPerSecond / 1e6).ToString("F1", CultureInfo.InvariantCulture);
    private static string Ms(double? seconds) => seconds is { } s ? (s * 1000).ToString(s < 0.01 ? "F2" : "F1", CultureInfo.InvariantCulture) : "-";

    private static string Bytes(double b) => b switch
    {
        >= 1L << 30 => (b / (1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (b / (1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (b / (1L << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString("F0", CultureInfo.InvariantCulture) + " B",
    };
}
