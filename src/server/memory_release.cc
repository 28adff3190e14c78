#include "server/memory_release.h"

#include <cstddef>

// jemalloc's control interface, when jemalloc is the allocator (weak: null otherwise).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp,
                       size_t newlen) __attribute__((weak));

namespace cairn::server {

void ReturnFreedMemory() {
  // 4096 is MALLCTL_ARENAS_ALL: every arena.
  if (mallctl != nullptr) (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
}

void ReleaseLargeBuffer(std::string* buffer) {
  if (buffer->capacity() <= (1 << 20)) return;
  std::string().swap(*buffer);
  ReturnFreedMemory();
}

}  // namespace cairn::server
