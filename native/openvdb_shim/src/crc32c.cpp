// crc32c.cpp — CRC32C with an SSE4.2 path (selected at run time) and a table-driven fallback.
#include "crc32c.h"
#include <array>
#include <cstring>

namespace hs {
namespace {
std::array<uint32_t, 256> makeTable() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}

uint32_t crcSoftware(const uint8_t* p, size_t n, uint32_t c) {
    static const auto table = makeTable();
    for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crcHardware(const uint8_t* p, size_t n, uint32_t c) {
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = uint32_t(c64);
    while (n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif
}  // namespace

uint32_t crc32c(const uint8_t* data, size_t size, uint32_t crc) {
    uint32_t c = ~crc;
#if defined(__x86_64__)
    static const bool hw = __builtin_cpu_supports("sse4.2");
    c = hw ? crcHardware(data, size, c) : crcSoftware(data, size, c);
#else
    c = crcSoftware(data, size, c);
#endif
    return ~c;
}
}  // namespace hs
