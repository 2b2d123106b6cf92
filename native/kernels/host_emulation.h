// host_emulation.h — runs the CUDA kernels of apply.cu as ordinary C++ on CPU threads, one std::thread per CUDA
// thread of a block, so their index arithmetic, NanoVDB reads and rounding can be tested where no GPU exists.
// Warp shuffles are emulated with a per-warp barrier; float atomics with a mutex. Not a performance path.
#pragma once
#include <barrier>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#define __host__
#define __device__
#define __global__

struct hs_dim3 { unsigned x = 1, y = 1, z = 1; };
inline thread_local hs_dim3 threadIdx, blockIdx;
inline hs_dim3 blockDim, gridDim;

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }

namespace hs_emu {
inline std::mutex atomicMutex;
struct Warp {
    std::barrier<> sync{32};
    float lanes[32];
};
inline std::vector<std::unique_ptr<Warp>> warps;

// Launches kernel(args...) over grid x block (1-D blocks, 2-D grid), block by block.
template <typename Kernel>
void launch(unsigned gx, unsigned gy, unsigned bx, Kernel kernel) {
    gridDim = {gx, gy, 1};
    blockDim = {bx, 1, 1};
    warps.clear();
    for (unsigned w = 0; w < (bx + 31) / 32; ++w) warps.push_back(std::make_unique<Warp>());
    for (unsigned by = 0; by < gy; ++by)
        for (unsigned bxi = 0; bxi < gx; ++bxi) {
            std::vector<std::thread> threads;
            for (unsigned t = 0; t < bx; ++t)
                threads.emplace_back([=] {
                    threadIdx = {t, 0, 0};
                    blockIdx = {bxi, by, 0};
                    kernel();
                });
            for (auto& th : threads) th.join();
        }
}
}  // namespace hs_emu

inline float hs_atomic_add(float* p, float v) {
    std::lock_guard<std::mutex> lock(hs_emu::atomicMutex);
    const float old = *p;
    *p = old + v;
    return old;
}

// Every lane of the warp must call this together, as on the GPU (__shfl_down_sync with a full mask).
inline float hs_shfl_down(float v, int delta) {
    auto& w = *hs_emu::warps[threadIdx.x / 32];
    const unsigned lane = threadIdx.x % 32;
    w.lanes[lane] = v;
    w.sync.arrive_and_wait();
    const float out = lane + delta < 32 ? w.lanes[lane + delta] : v;
    w.sync.arrive_and_wait();
    return out;
}
