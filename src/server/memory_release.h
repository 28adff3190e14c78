// Giving the memory of a large value's buffers back to the OS at once.
//
// jemalloc (linked into the release server) keeps freed pages for reuse and returns them
// after ~10 s (dirty_decay_ms): a server answering 100 MB values back to back from two
// I/O threads held a freed buffer per thread, doubling its peak RSS. Called after a
// buffer of a large value (over 1 MiB) is freed: purges every arena's freed pages. A
// no-op without jemalloc (the sanitizer builds).
#ifndef CAIRN_SERVER_MEMORY_RELEASE_H_
#define CAIRN_SERVER_MEMORY_RELEASE_H_

#include <string>

namespace cairn::server {

// Frees *buffer if it holds more than 1 MiB, and then returns freed memory to the OS.
void ReleaseLargeBuffer(std::string* buffer);
// Returns freed memory to the OS (after large buffers were freed elsewhere).
void ReturnFreedMemory();

}  // namespace cairn::server

#endif  // CAIRN_SERVER_MEMORY_RELEASE_H_
