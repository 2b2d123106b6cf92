// crc32c.h — CRC32C (Castagnoli), hardware-accelerated with SSE4.2 where the CPU has it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hs {
uint32_t crc32c(const uint8_t* data, size_t size, uint32_t crc = 0);
}
