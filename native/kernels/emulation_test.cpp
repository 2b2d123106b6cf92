// emulation_test.cpp — runs the CUDA kernels of apply.cu on CPU threads (host_emulation.h) over real NanoVDB
// snapshots made by the shim, and checks them against references computed independently here: the shim's dense
// matrices, a naive double-precision GEMM, the compiler's own _Float16 conversions. It exercises the index
// arithmetic, the NanoVDB leaf/tree reads, grid-stride loops, mixed-batch segments and fp16/bf16 rounding of the
// very source that is compiled to PTX. It cannot say anything about the GPU itself (launch, memory, timing).
#define HS_HOST_EMULATION
#include "apply.cu"
#include "hyprstream_shim.h"
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {
int failures = 0;
void check(bool ok, const std::string& what, double err) {
    std::printf("%s %s (max error %.3g)\n", ok ? "PASS" : "FAIL", what.c_str(), err);
    if (!ok) ++failures;
}
void must(hs_status s, const char* call) {
    if (s != HS_OK) { std::fprintf(stderr, "%s failed: %s\n", call, hs_last_error()); std::exit(2); }
}
int64_t tiles(const hs_module& m) { return ((m.rows + 7) / 8) * int64_t((m.cols + 63) / 64); }

template <typename BuildT>
void run(const hs_grid* grid, const std::vector<hs_module>& mods, int32_t valueType, const char* label) {
    hs_nano* nano;
    must(hs_nano_from_grid(grid, valueType, &nano), "hs_nano_from_grid");
    const void* data; int64_t bytes;
    must(hs_nano_data(nano, &data, &bytes), "hs_nano_data");
    const auto* g = reinterpret_cast<const nanovdb::NanoGrid<BuildT>*>(data);
    // Slot-ordered leaf indices, as AdapterSnapshot builds them.
    const uint32_t n = g->tree().nodeCount(0);
    std::vector<std::pair<int64_t, int32_t>> bySlot;
    for (uint32_t i = 0; i < n; ++i) bySlot.emplace_back(originSlot(leafAt<BuildT>(data, int32_t(i))->origin()), int32_t(i));
    std::sort(bySlot.begin(), bySlot.end());
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    for (const auto& m : mods) {
        std::vector<int32_t> leaves;
        for (auto& [slot, idx] : bySlot) if (slot >= m.slot_base && slot < m.slot_base + tiles(m)) leaves.push_back(idx);
        const int32_t count = int32_t(leaves.size());
        // The weights as the snapshot holds them (fp16: decoded), read through NanoVDB's own accessor.
        std::vector<float> dense(size_t(m.rows) * m.cols);
        for (int r = 0; r < m.rows; ++r)
            for (int c = 0; c < m.cols; ++c) {
                const int64_t slot = m.slot_base + int64_t(r >> 3) * ((m.cols + 63) / 64) + (c >> 6);
                dense[size_t(r) * m.cols + c] = g->tree().getValue(slotOrigin(slot) + nanovdb::Coord(r & 7, (c >> 3) & 7, c & 7));
            }
        const std::string name = std::string(label) + " " + std::to_string(m.rows) + "x" + std::to_string(m.cols);

        // Mixed batch: three segments (the middle one empty), different scales; few blocks, so the grid-stride loop runs.
        const int32_t offsets[4] = {0, 3, 3, 7};
        const int batch = offsets[3];
        std::vector<float> x(size_t(batch) * m.cols), y(size_t(batch) * m.rows), ref;
        for (auto& v : x) v = uni(rng);
        for (auto& v : y) v = uni(rng);
        ref = y;
        const float scales[3] = {0.5f, 2.f, -1.25f};
        const uint64_t grids[3] = {uint64_t(data), uint64_t(data), uint64_t(data)};
        const uint64_t lists[3] = {uint64_t(leaves.data()), uint64_t(leaves.data()), uint64_t(leaves.data())};
        const int32_t counts[3] = {count, count, count};
        const int64_t bases[3] = {m.slot_base, m.slot_base, m.slot_base};
        hs_emu::launch(unsigned(std::max(1, std::min(count, 5))), 3, 256, [&] {
            sgemm<BuildT>(grids, lists, counts, bases, scales, offsets, m.rows, m.cols, x.data(), y.data());
        });
        for (int s = 0; s < 3; ++s)
            for (int b = offsets[s]; b < offsets[s + 1]; ++b)
                for (int r = 0; r < m.rows; ++r) {
                    double acc = 0;
                    for (int c = 0; c < m.cols; ++c) acc += double(x[size_t(b) * m.cols + c]) * dense[size_t(r) * m.cols + c];
                    ref[size_t(b) * m.rows + r] += float(scales[s] * acc);
                }
        double err = 0, mx = 1;
        for (size_t i = 0; i < y.size(); ++i) { err = std::max(err, double(std::fabs(y[i] - ref[i]))); mx = std::max(mx, double(std::fabs(ref[i]))); }
        check(err / mx < 1e-5, name + " sgemm, 3 segments", err / mx);

        // Scatter into float32, fp16 and bf16 base weights.
        const float s = -0.75f;
        std::vector<float> w(dense.size()), w0;
        for (auto& v : w) v = uni(rng);
        w0 = w;
        hs_emu::launch(unsigned(std::max(1, std::min(count, 3))), 1, 512, [&] {
            scatter<BuildT>(data, leaves.data(), count, m.slot_base, m.rows, m.cols, s, StoreF32{w.data()});
        });
        err = 0;
        for (size_t i = 0; i < w.size(); ++i) err = std::max(err, double(std::fabs(w[i] - (w0[i] + s * dense[i]))));
        check(err < 1e-6, name + " scatter into float32", err);

        std::vector<uint16_t> h(w0.size()), b16(w0.size());
        for (size_t i = 0; i < h.size(); ++i) { h[i] = std::bit_cast<uint16_t>(_Float16(w0[i])); b16[i] = floatToBf16(w0[i]); }
        auto h0 = h, b0 = b16;
        hs_emu::launch(unsigned(std::max(1, count)), 1, 512, [&] {
            scatter<BuildT>(data, leaves.data(), count, m.slot_base, m.rows, m.cols, s, StoreF16{h.data()});
        });
        hs_emu::launch(unsigned(std::max(1, count)), 1, 512, [&] {
            scatter<BuildT>(data, leaves.data(), count, m.slot_base, m.rows, m.cols, s, StoreBf16{b16.data()});
        });
        size_t badH = 0, badB = 0;
        for (size_t i = 0; i < h.size(); ++i) {
            const float d = s * dense[i];
            if (d == 0.f) { badH += h[i] != h0[i]; badB += b16[i] != b0[i]; continue; }
            const float wantH = float(_Float16(float(std::bit_cast<_Float16>(h0[i])) + d));  // the compiler's rounding
            badH += std::bit_cast<uint16_t>(_Float16(wantH)) != h[i];
            const float sum = std::bit_cast<float>(uint32_t(b0[i]) << 16) + d;
            uint32_t u = std::bit_cast<uint32_t>(sum);
            u += 0x7FFFu + ((u >> 16) & 1u);
            badB += uint16_t(u >> 16) != b16[i];
        }
        check(badH == 0, name + " scatter into fp16 (vs _Float16 rounding)", double(badH));
        check(badB == 0, name + " scatter into bf16 (round to nearest even)", double(badB));

        // Lookup through the tree at random coordinates.
        std::vector<int32_t> rows(600), cols(600);
        std::uniform_int_distribution<int> rr(0, m.rows - 1), cc(0, m.cols - 1);
        for (size_t i = 0; i < rows.size(); ++i) { rows[i] = rr(rng); cols[i] = cc(rng); }
        std::vector<float> got(rows.size());
        hs_emu::launch(unsigned((rows.size() + 255) / 256), 1, 256, [&] {
            lookup<BuildT>(data, m.slot_base, m.cols, rows.data(), cols.data(), got.data(), int32_t(rows.size()));
        });
        err = 0;
        for (size_t i = 0; i < rows.size(); ++i) {
            float v; int32_t active;
            must(hs_grid_get(grid, &m, rows[i], cols[i], &v, &active), "hs_grid_get");
            err = std::max(err, double(std::fabs(got[i] - (active ? v : 0.f))));
        }
        check(err < (valueType == HS_NANO_FP16 ? 2e-5 : 0.0) + 1e-12, name + " lookup vs the OpenVDB grid", err);
    }
    // The whole adapter in one launch (blockIdx.y = module), into bf16: must equal the per-module kernel.
    {
        const size_t nm = mods.size();
        std::vector<std::vector<int32_t>> lists(nm);
        std::vector<std::vector<uint16_t>> one(nm), many(nm);
        std::vector<uint64_t> listPtrs(nm), wPtrs(nm);
        std::vector<int32_t> counts(nm), rowsV(nm), colsV(nm);
        std::vector<int64_t> bases(nm);
        std::vector<float> scales(nm);
        for (size_t k = 0; k < nm; ++k) {
            const auto& m = mods[k];
            for (auto& [slot, idx] : bySlot) if (slot >= m.slot_base && slot < m.slot_base + tiles(m)) lists[k].push_back(idx);
            one[k].resize(size_t(m.rows) * m.cols);
            for (auto& v : one[k]) v = floatToBf16(uni(rng));
            many[k] = one[k];
            listPtrs[k] = uint64_t(lists[k].data()); wPtrs[k] = uint64_t(many[k].data());
            counts[k] = int32_t(lists[k].size()); rowsV[k] = m.rows; colsV[k] = m.cols; bases[k] = m.slot_base; scales[k] = 0.5f + float(k);
            hs_emu::launch(unsigned(std::max(1, counts[k])), 1, 512, [&] {
                scatter<BuildT>(data, lists[k].data(), counts[k], m.slot_base, m.rows, m.cols, scales[k], StoreBf16{one[k].data()});
            });
        }
        hs_emu::launch(2, unsigned(nm), 512, [&] {
            scatterMany<BuildT, StoreBf16, uint16_t>(data, listPtrs.data(), counts.data(), bases.data(), rowsV.data(), colsV.data(),
                                                     scales.data(), wPtrs.data());
        });
        size_t diff = 0;
        for (size_t k = 0; k < nm; ++k) diff += one[k] != many[k];
        check(diff == 0, std::string(label) + " whole-adapter scatter (one launch) == per-module scatter", double(diff));
    }
    hs_nano_free(nano);
}
}  // namespace

int main() {
    // The conversion helpers against the compiler's IEEE binary16, over every half and a sweep of floats.
    size_t bad = 0;
    for (uint32_t b = 0; b < 65536; ++b) {
        const float want = float(std::bit_cast<_Float16>(uint16_t(b)));
        const float got = halfToFloat(uint16_t(b));
        bad += !(std::isnan(want) ? std::isnan(got) : std::bit_cast<uint32_t>(want) == std::bit_cast<uint32_t>(got));
    }
    check(bad == 0, "halfToFloat == (float)_Float16 for all 65536 halves", double(bad));
    bad = 0;
    std::mt19937 rng(9);
    for (int i = 0; i < 2000000; ++i) {
        const float f = std::bit_cast<float>(uint32_t(rng()));
        if (std::isnan(f)) continue;
        bad += std::bit_cast<uint16_t>(_Float16(f)) != floatToHalf(f);
    }
    check(bad == 0, "floatToHalf == (_Float16)f for 2M random float bit patterns", double(bad));

    must(hs_initialize(), "hs_initialize");
    hs_grid* grid;
    must(hs_grid_create(&grid), "hs_grid_create");
    std::vector<hs_module> mods = {{0, 37, 203}, {0, 96, 320}};
    mods[1].slot_base = tiles(mods[0]);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    for (const auto& m : mods) {
        std::vector<int32_t> r, c; std::vector<float> v;
        for (int tr = 0; tr < m.rows; tr += 8)
            for (int tc = 0; tc < m.cols; tc += 64)
                if (rng() % 10 < 4)
                    for (int i = tr; i < std::min(m.rows, tr + 8); ++i)
                        for (int j = tc; j < std::min(m.cols, tc + 64); ++j) { r.push_back(i); c.push_back(j); v.push_back(uni(rng)); }
        must(hs_grid_set_many(grid, &m, r.data(), c.data(), v.data(), int64_t(v.size())), "hs_grid_set_many");
    }
    run<float>(grid, mods, HS_NANO_FLOAT32, "f32");
    run<nanovdb::Fp16>(grid, mods, HS_NANO_FP16, "fp16");
    hs_grid_free(grid);
    std::printf(failures == 0 ? "kernel emulation passed\n" : "kernel emulation FAILED: %d\n", failures);
    return failures == 0 ? 0 : 1;
}
