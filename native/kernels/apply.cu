// apply.cu — the adapter kernels, reading NanoVDB snapshot buffers in device memory directly.
//
// A snapshot is one NanoVDB grid (float or Fp16) whose leaf i is a dense 8x64 tile of a module, row-major
// (mapping hs.tile8x64 v1, README.md). The host passes, per module, the slot-ordered list of the grid's leaf
// indices (a module's tiles, tile-row-major), the module's first slot and shape. Kernels never write a snapshot.
// Entry points are extern "C" so the host finds them by name with cuModuleGetFunction:
//   hs_sgemm_{f32,q16}        y[b x rows] += scale * x[b x cols] * dW^T, mixed batch (segments, one adapter each)
//   hs_scatter_{f32,f16,bf16}_{f32,q16}   w[rows x cols] += scale * dW in float32 / fp16 bits / bf16 bits
//   hs_scatter_many_{...}     the same for many modules (a whole adapter) in one launch
//   hs_lookup_{f32,q16}       values[i] = stored weight at (rows[i], cols[i]) via the NanoVDB tree
// (_f32 / _q16 suffix last: the snapshot's value type, float32 or NanoVDB Fp16.)
#include "cuda_prelude.h"
#include <nanovdb/NanoVDB.h>

namespace {

// Inverse of the slot -> leaf-origin mapping (TileMapping.OriginSlot in C#, hs::originSlot in the shim).
__device__ inline int64_t originSlot(const nanovdb::Coord& o) {
    const int64_t x = o[0], y = o[1], z = o[2];
    const int64_t upper = x >> 12;
    const int64_t u = (((x >> 7) & 31) << 10) | (((y >> 7) & 31) << 5) | ((z >> 7) & 31);
    const int64_t l = (((x >> 3) & 15) << 8) | (((y >> 3) & 15) << 4) | ((z >> 3) & 15);
    return (((upper << 15) | u) << 12) | l;
}

__device__ inline nanovdb::Coord slotOrigin(int64_t slot) {
    const int64_t lower = slot >> 12, l = slot & 4095, upper = lower >> 15, u = lower & 32767;
    return nanovdb::Coord(int32_t(upper * 4096 + (u >> 10) * 128 + (l >> 8) * 8),
                          int32_t(((u >> 5) & 31) * 128 + ((l >> 4) & 15) * 8),
                          int32_t((u & 31) * 128 + (l & 15) * 8));
}

template <typename BuildT>
__device__ inline const nanovdb::NanoLeaf<BuildT>* leafAt(const void* grid, int32_t index) {
    const auto* g = reinterpret_cast<const nanovdb::NanoGrid<BuildT>*>(grid);
    return g->tree().template getFirstNode<0>() + index;
}

// IEEE half / bfloat16 bits <-> float, round to nearest even, done in integer arithmetic so both compilers agree.
__device__ inline float halfToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {  // subnormal: normalise
            int e = -1;
            uint32_t m = man;
            do { ++e; m <<= 1; } while ((m & 0x400) == 0);
            bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3FF) << 13;
        }
    } else if (exp == 31) bits = sign | 0x7F800000u | man << 13;
    else bits = sign | (exp + 112) << 23 | man << 13;
    return __int_as_float(int(bits));
}

__device__ inline uint16_t floatToHalf(float f) {
    const uint32_t x = uint32_t(__float_as_int(f));
    const uint32_t sign = (x >> 16) & 0x8000;
    const int32_t exp = int32_t((x >> 23) & 0xFF) - 127 + 15;
    uint32_t man = x & 0x7FFFFF;
    if (((x >> 23) & 0xFF) == 0xFF) return uint16_t(sign | 0x7C00 | (man ? 0x200 : 0));  // Inf / NaN
    if (exp >= 31) return uint16_t(sign | 0x7C00);                                        // overflow -> Inf
    if (exp <= 0) {                                                                        // subnormal or zero
        if (exp < -10) return uint16_t(sign);
        man |= 0x800000;
        const int shift = 14 - exp;
        uint32_t h = man >> shift;
        const uint32_t rem = man & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (h & 1))) ++h;
        return uint16_t(sign | h);
    }
    uint32_t h = uint32_t(exp) << 10 | man >> 13;
    const uint32_t rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: still correct
    return uint16_t(sign | h);
}

__device__ inline float bf16ToFloat(uint16_t b) { return __int_as_float(int(uint32_t(b) << 16)); }
__device__ inline uint16_t floatToBf16(float f) {
    uint32_t u = uint32_t(__float_as_int(f));
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFF)) return uint16_t((u >> 16) | 0x40);  // NaN stays NaN
    u += 0x7FFFu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}

// Sparse GEMM over a mixed batch. blockIdx.y = segment (one adapter), blocks stride over that adapter's tiles.
// 256 threads: warp w computes tile row w; lane l covers columns l and l+32, so a warp reads 32 consecutive x
// values at a time (coalesced) and the tile's 512 weights are read once per block, whatever the batch size.
template <typename BuildT>
__device__ void sgemm(const uint64_t* grids, const uint64_t* leafLists, const int32_t* leafCounts, const int64_t* slotBases,
                      const float* scales, const int32_t* segOffsets, int32_t rows, int32_t cols, const float* x, float* y) {
    const int seg = blockIdx.y;
    const int32_t count = leafCounts[seg];
    const int32_t b0 = segOffsets[seg], b1 = segOffsets[seg + 1];
    if (b0 == b1) return;
    const void* grid = reinterpret_cast<const void*>(grids[seg]);
    const int32_t* leaves = reinterpret_cast<const int32_t*>(leafLists[seg]);
    const int64_t tpr = (int64_t(cols) + 63) / 64;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const float scale = scales[seg];
    for (int32_t t = blockIdx.x; t < count; t += gridDim.x) {
        const auto* leaf = leafAt<BuildT>(grid, leaves[t]);
        const int64_t tile = originSlot(leaf->origin()) - slotBases[seg];
        const int32_t row = int32_t(tile / tpr) * 8 + warp, col0 = int32_t(tile % tpr) * 64;
        if (row >= rows) continue;  // whole warp leaves together: the shuffle below stays convergent
        const bool in0 = col0 + lane < cols, in1 = col0 + lane + 32 < cols;
        const float w0 = in0 ? leaf->getValue(uint32_t(warp * 64 + lane)) : 0.f;
        const float w1 = in1 ? leaf->getValue(uint32_t(warp * 64 + lane + 32)) : 0.f;
        for (int32_t b = b0; b < b1; ++b) {
            const float* xb = x + int64_t(b) * cols + col0;
            float v = (in0 ? w0 * xb[lane] : 0.f) + (in1 ? w1 * xb[lane + 32] : 0.f);
            for (int d = 16; d > 0; d >>= 1) v += hs_shfl_down(v, d);
            if (lane == 0) hs_atomic_add(y + int64_t(b) * rows + row, scale * v);
        }
    }
}

// Scatter: one block per tile, thread n = voxel n (row n>>6, column n&63): consecutive threads touch consecutive
// weights of one row. Tiles are disjoint, so no atomics.
template <typename BuildT, typename Store>
__device__ void scatter(const void* grid, const int32_t* leaves, int32_t count, int64_t slotBase, int32_t rows, int32_t cols,
                        float scale, Store store) {
    const int64_t tpr = (int64_t(cols) + 63) / 64;
    const int n = threadIdx.x;
    for (int32_t t = blockIdx.x; t < count; t += gridDim.x) {
        const auto* leaf = leafAt<BuildT>(grid, leaves[t]);
        const int64_t tile = originSlot(leaf->origin()) - slotBase;
        const int32_t row = int32_t(tile / tpr) * 8 + (n >> 6), col = int32_t(tile % tpr) * 64 + (n & 63);
        if (row < rows && col < cols) store(int64_t(row) * cols + col, scale * leaf->getValue(uint32_t(n)));
    }
}

// Lookup through the NanoVDB tree itself (root -> internal nodes -> leaf), as any NanoVDB reader would.
template <typename BuildT>
__device__ void lookup(const void* grid, int64_t slotBase, int32_t cols, const int32_t* rows, const int32_t* colsAt,
                       float* values, int32_t n) {
    const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int32_t r = rows[i], c = colsAt[i];
    const int64_t slot = slotBase + int64_t(r >> 3) * ((int64_t(cols) + 63) / 64) + (c >> 6);
    const nanovdb::Coord ijk = slotOrigin(slot) + nanovdb::Coord(r & 7, (c >> 3) & 7, c & 7);
    const auto* g = reinterpret_cast<const nanovdb::NanoGrid<BuildT>*>(grid);
    values[i] = g->tree().getValue(ijk);
}

}  // namespace

#define HS_SGEMM(NAME, BUILD)                                                                                          \
    extern "C" __global__ void NAME(const uint64_t* grids, const uint64_t* leafLists, const int32_t* leafCounts,        \
                                    const int64_t* slotBases, const float* scales, const int32_t* segOffsets,          \
                                    int32_t rows, int32_t cols, const float* x, float* y) {                            \
        sgemm<BUILD>(grids, leafLists, leafCounts, slotBases, scales, segOffsets, rows, cols, x, y);                   \
    }
HS_SGEMM(hs_sgemm_f32, float)
HS_SGEMM(hs_sgemm_q16, nanovdb::Fp16)

// Stores for the three base-weight types (functors, not lambdas: nvcc would need --extended-lambda).
struct StoreF32 { float* w; __device__ void operator()(int64_t at, float d) const { w[at] += d; } };
struct StoreF16 { uint16_t* w; __device__ void operator()(int64_t at, float d) const { w[at] = floatToHalf(halfToFloat(w[at]) + d); } };
struct StoreBf16 { uint16_t* w; __device__ void operator()(int64_t at, float d) const { w[at] = floatToBf16(bf16ToFloat(w[at]) + d); } };

#define HS_SCATTER(NAME, BUILD, T, STORE)                                                                              \
    extern "C" __global__ void NAME(const void* grid, const int32_t* leaves, int32_t count, int64_t slotBase,          \
                                    int32_t rows, int32_t cols, float scale, T* w) {                                   \
        scatter<BUILD>(grid, leaves, count, slotBase, rows, cols, scale, STORE{w});                                    \
    }
HS_SCATTER(hs_scatter_f32_f32, float, float, StoreF32)
HS_SCATTER(hs_scatter_f16_f32, float, uint16_t, StoreF16)
HS_SCATTER(hs_scatter_bf16_f32, float, uint16_t, StoreBf16)
HS_SCATTER(hs_scatter_f32_q16, nanovdb::Fp16, float, StoreF32)
HS_SCATTER(hs_scatter_f16_q16, nanovdb::Fp16, uint16_t, StoreF16)
HS_SCATTER(hs_scatter_bf16_q16, nanovdb::Fp16, uint16_t, StoreBf16)

// A whole adapter switched in one launch: blockIdx.y = module (its own leaf list, shape, scale and base-weight array).
template <typename BuildT, typename Store, typename T>
__device__ void scatterMany(const void* grid, const uint64_t* leafLists, const int32_t* counts, const int64_t* slotBases,
                            const int32_t* rows, const int32_t* cols, const float* scales, const uint64_t* weights) {
    const int m = blockIdx.y;
    scatter<BuildT>(grid, reinterpret_cast<const int32_t*>(leafLists[m]), counts[m], slotBases[m], rows[m], cols[m], scales[m],
                    Store{reinterpret_cast<T*>(weights[m])});
}

#define HS_SCATTER_MANY(NAME, BUILD, T, STORE)                                                                         \
    extern "C" __global__ void NAME(const void* grid, const uint64_t* leafLists, const int32_t* counts,                \
                                    const int64_t* slotBases, const int32_t* rows, const int32_t* cols,                \
                                    const float* scales, const uint64_t* weights) {                                    \
        scatterMany<BUILD, STORE, T>(grid, leafLists, counts, slotBases, rows, cols, scales, weights);                 \
    }
HS_SCATTER_MANY(hs_scatter_many_f32_f32, float, float, StoreF32)
HS_SCATTER_MANY(hs_scatter_many_f16_f32, float, uint16_t, StoreF16)
HS_SCATTER_MANY(hs_scatter_many_bf16_f32, float, uint16_t, StoreBf16)
HS_SCATTER_MANY(hs_scatter_many_f32_q16, nanovdb::Fp16, float, StoreF32)
HS_SCATTER_MANY(hs_scatter_many_f16_q16, nanovdb::Fp16, uint16_t, StoreF16)
HS_SCATTER_MANY(hs_scatter_many_bf16_q16, nanovdb::Fp16, uint16_t, StoreBf16)

#define HS_LOOKUP(NAME, BUILD)                                                                                         \
    extern "C" __global__ void NAME(const void* grid, int64_t slotBase, int32_t cols, const int32_t* rows,             \
                                    const int32_t* colsAt, float* values, int32_t n) {                                 \
        lookup<BUILD>(grid, slotBase, cols, rows, colsAt, values, n);                                                  \
    }
HS_LOOKUP(hs_lookup_f32, float)
HS_LOOKUP(hs_lookup_q16, nanovdb::Fp16)

// Dense baseline for `bench apply --device cuda` when cuBLAS is absent: y[b x rows] = x[b x cols] * W^T, one warp
// per output element (coalesced reads of a row of W and of x).
extern "C" __global__ void hs_dense_gemm_f32(const float* w, int32_t rows, int32_t cols, const float* x, int32_t batch, float* y) {
    const int64_t warpId = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warpId >= int64_t(rows) * batch) return;
    const int32_t b = int32_t(warpId / rows), r = int32_t(warpId % rows);
    const float* wr = w + int64_t(r) * cols;
    const float* xb = x + int64_t(b) * cols;
    float v = 0.f;
    for (int32_t c = lane; c < cols; c += 32) v += wr[c] * xb[c];
    for (int d = 16; d > 0; d >>= 1) v += hs_shfl_down(v, d);
    if (lane == 0) y[int64_t(b) * rows + r] = v;
}
