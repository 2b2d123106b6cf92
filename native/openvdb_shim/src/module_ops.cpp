// module_ops.cpp — whole-module operations: prune, keep-top (tile or unstructured), merge, dense in/out,
// energy and the content hash used to detect corrupted files.
#include <openvdb/tools/Prune.h>
#include <openvdb/tree/LeafManager.h>
#include <Imath/half.h>
#include <algorithm>
#include <cstring>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <vector>
#include "module_access.h"

using namespace hs;

namespace {

// Deactivates the listed voxels; drops tiles left empty.
void removeVoxels(Tree& tree, Leaf& leaf, const std::vector<openvdb::Index>& offsets) {
    for (auto n : offsets) leaf.setValueOff(n, 0.0f);
    if (leaf.isEmpty()) dropLeaf(tree, leaf.origin());
}

uint64_t mix(uint64_t x) {  // splitmix64 finalizer
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Hash of one leaf: origin, active mask and the bits of its active values (inactive ones count as 0).
// Fully active 64-voxel words, the common case for tile-structured adapters, are hashed 2 values at a time.
uint64_t leafHash(const Leaf& leaf, bool asHalf) {
    const auto& o = leaf.origin();
    uint64_t h = mix((uint64_t(uint32_t(o.x())) << 32 | uint32_t(o.y())) ^ (uint64_t(uint32_t(o.z())) << 17));
    const auto& mask = leaf.getValueMask();
    const float* data = leaf.buffer().data();
    for (openvdb::Index w = 0; w < mask.WORD_COUNT; ++w) {
        const uint64_t word = mask.getWord<uint64_t>(w);
        h = (h ^ word) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        if (word == 0) continue;
        float v[64];
        for (int b = 0; b < 64; ++b) {
            const float x = (word >> b) & 1 ? data[w * 64 + b] : 0.0f;
            v[b] = asHalf ? float(Imath::half(x)) : x;
        }
        uint64_t chunk[32];
        std::memcpy(chunk, v, sizeof v);
        for (int k = 0; k < 32; ++k) {
            h = (h ^ chunk[k]) * 0xBF58476D1CE4E5B9ull;
            h ^= h >> 31;
        }
    }
    return mix(h);
}

}  // namespace

extern "C" {

HS_API hs_status hs_grid_prune(hs_grid* grid, const hs_module* m, float tolerance, int64_t* removed) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        if (!(tolerance >= 0.0f) || !std::isfinite(tolerance))
            fail(HS_ERR_INVALID_ARGUMENT, "prune tolerance must be a finite value >= 0");
        auto& tree = gridOf(grid).tree();
        std::vector<Leaf*> leaves;
        forEachLeaf(tree, mod, [&](Leaf& leaf, int64_t) { leaves.push_back(&leaf); });
        int64_t count = 0;
        std::vector<openvdb::Index> off;
        for (Leaf* leaf : leaves) {
            off.clear();
            for (auto it = leaf->cbeginValueOn(); it; ++it)
                if (std::fabs(*it) <= tolerance) off.push_back(it.pos());
            count += int64_t(off.size());
            if (!off.empty()) removeVoxels(tree, *leaf, off);
        }
        if (count) openvdb::tools::pruneInactive(tree);
        if (removed) *removed = count;
    });
}

HS_API hs_status hs_grid_keep_top(hs_grid* grid, const hs_module* m, int64_t k, int32_t structure,
                                  double* energy_kept, double* energy_total) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        if (k < 0) fail(HS_ERR_INVALID_ARGUMENT, "keep-top count must be >= 0");
        if (structure != HS_STRUCTURE_TILE && structure != HS_STRUCTURE_UNSTRUCTURED)
            fail(HS_ERR_INVALID_ARGUMENT, "unknown sparsity structure " + std::to_string(structure));
        auto& tree = gridOf(grid).tree();
        struct LeafStat { Leaf* leaf; double energy; int64_t active; };
        std::vector<LeafStat> stats;
        double total = 0.0;
        int64_t active = 0;
        forEachLeaf(tree, mod, [&](Leaf& leaf, int64_t) {
            double e = 0.0;
            for (auto it = leaf.cbeginValueOn(); it; ++it) e += double(*it) * double(*it);
            stats.push_back({&leaf, e, int64_t(leaf.onVoxelCount())});
            total += e;
            active += int64_t(leaf.onVoxelCount());
        });
        double kept = total;
        if (k < active) {
            kept = 0.0;
            if (structure == HS_STRUCTURE_TILE) {
                std::vector<size_t> order(stats.size());
                for (size_t i = 0; i < order.size(); ++i) order[i] = i;
                std::stable_sort(order.begin(), order.end(),
                                 [&](size_t a, size_t b) { return stats[a].energy > stats[b].energy; });
                int64_t have = 0;
                size_t i = 0;
                for (; i < order.size() && have < k; ++i) {
                    have += stats[order[i]].active;
                    kept += stats[order[i]].energy;
                }
                std::vector<openvdb::Coord> drop;
                for (; i < order.size(); ++i) drop.push_back(stats[order[i]].leaf->origin());
                for (const auto& o : drop) dropLeaf(tree, o);
            } else {
                std::vector<float> mags;
                mags.reserve(size_t(active));
                for (auto& s : stats)
                    for (auto it = s.leaf->cbeginValueOn(); it; ++it) mags.push_back(std::fabs(*it));
                float threshold = 0.0f;
                if (k > 0) {
                    std::nth_element(mags.begin(), mags.begin() + (k - 1), mags.end(), std::greater<float>());
                    threshold = mags[size_t(k - 1)];
                }
                int64_t above = 0;
                for (float v : mags) above += (v > threshold);
                int64_t tiesLeft = k - above;  // equal magnitudes kept in slot order until k is reached
                std::vector<openvdb::Index> off;
                for (auto& s : stats) {
                    off.clear();
                    for (auto it = s.leaf->cbeginValueOn(); it; ++it) {
                        const float a = std::fabs(*it);
                        bool keep = k > 0 && (a > threshold || (a == threshold && tiesLeft > 0));
                        if (keep && a == threshold) --tiesLeft;
                        if (keep) kept += double(*it) * double(*it);
                        else off.push_back(it.pos());
                    }
                    if (!off.empty()) removeVoxels(tree, *s.leaf, off);
                }
            }
            openvdb::tools::pruneInactive(tree);
        }
        if (energy_kept) *energy_kept = kept;
        if (energy_total) *energy_total = total;
    });
}

HS_API hs_status hs_grid_merge(hs_grid* dst, const hs_module* m_dst, const hs_grid* src, const hs_module* m_src,
                               float scale) {
    return guarded([&] {
        const auto& md = checkModule(m_dst);
        const auto& ms = checkModule(m_src);
        if (md.rows != ms.rows || md.cols != ms.cols)
            fail(HS_ERR_INVALID_ARGUMENT, "cannot merge a " + std::to_string(ms.rows) + "x" + std::to_string(ms.cols) +
                                              " module into a " + std::to_string(md.rows) + "x" +
                                              std::to_string(md.cols) + " one");
        checkFinite(scale);
        auto& dtree = gridOf(dst).tree();
        const auto& stree = gridOf(src).tree();
        const bool sameGrid = &dtree == &stree;
        if (sameGrid && md.slot_base != ms.slot_base) {
            const int64_t a0 = md.slot_base, a1 = a0 + tileCount(md), b0 = ms.slot_base, b1 = b0 + tileCount(ms);
            if (a0 < b1 && b0 < a1) fail(HS_ERR_INVALID_ARGUMENT, "source and destination modules overlap");
        }
        // Pass 1 checks every result is finite, so the merge either happens whole or not at all.
        openvdb::tree::ValueAccessor<const Tree, false> dacc(dtree);
        forEachLeafConst(stree, ms, [&](const Leaf& leaf, int64_t t) {
            const Leaf* target = dacc.probeConstLeaf(slotOrigin(md.slot_base + t));
            for (auto it = leaf.cbeginValueOn(); it; ++it) {
                const float base = target && target->isValueOn(it.pos()) ? target->getValue(it.pos()) : 0.0f;
                if (!std::isfinite(base + scale * *it))
                    fail(HS_ERR_INVALID_ARGUMENT, "merge would overflow a weight to infinity; nothing was changed");
            }
        });
        // Pass 2 applies it. Source leaves are gathered first: creating destination leaves may touch the
        // same tree when both modules live in one grid.
        std::vector<std::pair<const Leaf*, int64_t>> sources;
        forEachLeafConst(stree, ms, [&](const Leaf& leaf, int64_t t) { sources.emplace_back(&leaf, t); });
        openvdb::tree::ValueAccessor<Tree> wacc(dtree);
        for (auto& [leaf, t] : sources) {
            Leaf* target = wacc.touchLeaf(slotOrigin(md.slot_base + t));
            for (auto it = leaf->cbeginValueOn(); it; ++it) {
                const auto n = it.pos();
                const float base = target->isValueOn(n) ? target->getValue(n) : 0.0f;
                target->setValueOn(n, base + scale * *it);
            }
        }
    });
}

HS_API hs_status hs_grid_from_dense(hs_grid* grid, const hs_module* m, const float* dense, float tolerance) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        need(dense, "dense");
        if (!(tolerance >= 0.0f) || !std::isfinite(tolerance))
            fail(HS_ERR_INVALID_ARGUMENT, "tolerance must be a finite value >= 0");
        const int64_t total = int64_t(mod.rows) * mod.cols;
        for (int64_t i = 0; i < total; ++i)
            if (!std::isfinite(dense[i]))
                fail(HS_ERR_INVALID_ARGUMENT, std::string(std::isnan(dense[i]) ? "NaN" : "infinite") +
                                                  " value at (" + std::to_string(i / mod.cols) + ", " +
                                                  std::to_string(i % mod.cols) + ") refused: weights must be finite");
        auto& tree = gridOf(grid).tree();
        // Build whole leaves in parallel, then hand them to the tree in slot order. Only the tiles that hold a
        // weight are kept (per thread, then sorted), so nothing is sized by the module's declared tile count.
        const int64_t tiles = tileCount(mod);
        tbb::enumerable_thread_specific<std::vector<std::pair<int64_t, Leaf*>>> perThread;
        tbb::parallel_for(tbb::blocked_range<int64_t>(0, tiles, 64), [&](const tbb::blocked_range<int64_t>& r) {
            auto& mine = perThread.local();
            for (int64_t t = r.begin(); t < r.end(); ++t) {
                int32_t row0, col0;
                tileCorner(mod, t, row0, col0);
                std::unique_ptr<Leaf> leaf;
                const int32_t rN = std::min(kTileRows, mod.rows - row0), cN = std::min(kTileCols, mod.cols - col0);
                for (int32_t r = 0; r < rN; ++r) {
                    const float* src = dense + int64_t(row0 + r) * mod.cols + col0;
                    for (int32_t c = 0; c < cN; ++c) {
                        if (std::fabs(src[c]) > tolerance) {
                            if (!leaf) leaf.reset(new Leaf(slotOrigin(mod.slot_base + t), 0.0f, false));
                            leaf->setValueOn(openvdb::Index(r * kTileCols + c), src[c]);
                        }
                    }
                }
                if (leaf) mine.emplace_back(t, leaf.release());
            }
        });
        std::vector<std::pair<int64_t, Leaf*>> built;
        for (auto& v : perThread) built.insert(built.end(), v.begin(), v.end());
        std::sort(built.begin(), built.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<openvdb::Coord> stale;
        forEachLeaf(tree, mod, [&](Leaf& leaf, int64_t t) {
            const auto at = std::lower_bound(built.begin(), built.end(), t,
                                             [](const auto& p, int64_t v) { return p.first < v; });
            if (at == built.end() || at->first != t) stale.push_back(leaf.origin());
        });
        for (const auto& o : stale) dropLeaf(tree, o);
        openvdb::tree::ValueAccessor<Tree> acc(tree);
        for (auto& [t, leaf] : built) acc.addLeaf(leaf);  // replaces any leaf at that origin; the tree owns it now
        if (!stale.empty()) openvdb::tools::pruneInactive(tree);
    });
}

HS_API hs_status hs_grid_to_dense(const hs_grid* grid, const hs_module* m, float* dense) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        need(dense, "dense");
        std::memset(dense, 0, sizeof(float) * size_t(mod.rows) * size_t(mod.cols));
        forEachLeafConst(gridOf(grid).tree(), mod, [&](const Leaf& leaf, int64_t t) {
            int32_t row0, col0;
            tileCorner(mod, t, row0, col0);
            for (auto it = leaf.cbeginValueOn(); it; ++it) {
                const int32_t r = row0 + int32_t(it.pos() >> 6), c = col0 + int32_t(it.pos() & 63);
                dense[int64_t(r) * mod.cols + c] = *it;
            }
        });
    });
}

HS_API hs_status hs_grid_sum_squares(const hs_grid* grid, const hs_module* m, double* sum) {
    return guarded([&] {
        need(sum, "sum");
        double s = 0.0;
        auto add = [&](const Leaf& leaf) {
            for (auto it = leaf.cbeginValueOn(); it; ++it) s += double(*it) * double(*it);
        };
        const auto& tree = gridOf(grid).tree();
        if (m) forEachLeafConst(tree, checkModule(m), [&](const Leaf& leaf, int64_t) { add(leaf); });
        else for (auto it = tree.cbeginLeaf(); it; ++it) add(*it);
        *sum = s;
    });
}

HS_API hs_status hs_grid_content_hash(const hs_grid* grid, int32_t as_half, int64_t* hash) {
    return guarded([&] {
        need(hash, "hash");
        const auto& tree = gridOf(grid).tree();
        openvdb::tree::LeafManager<const Tree> leaves(tree);
        std::vector<uint64_t> per(leaves.leafCount());
        leaves.foreach([&](const Leaf& leaf, size_t i) { per[i] = leafHash(leaf, as_half != 0); });
        uint64_t h = mix(per.size());
        for (uint64_t x : per) h = mix(h ^ x);
        *hash = int64_t(h);
    });
}

}  // extern "C"
