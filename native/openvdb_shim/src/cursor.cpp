// cursor.cpp — chunked iteration over a module's active weights into caller buffers.
#include "module_access.h"

using namespace hs;

extern "C" {

HS_API hs_status hs_cursor_create(const hs_grid* grid, const hs_module* m, hs_cursor** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        const auto& mod = checkModule(m);
        need(grid, "grid");
        *out = newHandle<hs_cursor>(openvdb::FloatGrid::ConstPtr(grid->grid), mod);
    });
}

HS_API void hs_cursor_free(hs_cursor* cursor) { freeHandle(cursor); }

HS_API hs_status hs_cursor_next(hs_cursor* cursor, int32_t* rows, int32_t* cols, float* values, int64_t capacity,
                                int64_t* written) {
    return guarded([&] {
        auto& c = need(cursor, "cursor");
        need(written, "written");
        *written = 0;
        if (capacity < 0) fail(HS_ERR_INVALID_ARGUMENT, "capacity is negative");
        if (capacity > 0 && (!rows || !cols || !values)) fail(HS_ERR_INVALID_ARGUMENT, "output arrays are NULL");
        const auto& mod = c.module;
        const int64_t tiles = tileCount(mod);
        int64_t n = 0;
        if (capacity > 0 && c.tile < tiles) {
            // Only stored leaves from the cursor's tile on are visited (never every slot of the declared shape).
            const bool done = visitStoredLeaves(c.grid->tree(), mod.slot_base + c.tile, mod.slot_base + tiles,
                                                [&](const Leaf& leaf, int64_t slot) {
                const int64_t t = slot - mod.slot_base;
                if (t != c.tile) {
                    c.tile = t;
                    c.offset = 0;
                }
                int32_t row0, col0;
                tileCorner(mod, t, row0, col0);
                const auto& mask = leaf.getValueMask();
                for (openvdb::Index i = mask.findNextOn(openvdb::Index(c.offset)); i < Leaf::SIZE && n < capacity;
                     i = mask.findNextOn(i + 1)) {
                    rows[n] = row0 + int32_t(i >> 6);
                    cols[n] = col0 + int32_t(i & 63);
                    values[n] = leaf.getValue(i);
                    ++n;
                    c.offset = int32_t(i + 1);
                }
                if (mask.findNextOn(openvdb::Index(c.offset)) < Leaf::SIZE) return false;  // buffer full mid-tile
                c.tile = t + 1;
                c.offset = 0;
                return n < capacity;
            });
            if (done) {
                c.tile = tiles;
                c.offset = 0;
            }
        }
        *written = n;
    });
}

}  // extern "C"
