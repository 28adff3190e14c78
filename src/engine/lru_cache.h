// A sharded LRU cache with capacity in bytes: the block cache, the row cache and the
// table cache are instances. Each shard is a hash table plus a doubly linked list in
// recency order, under its own mutex; a key's shard is chosen by its hash.
//
// Values are shared: Lookup returns a std::shared_ptr that stays valid after the entry
// is evicted, so readers never see memory freed under them. Capacity counts the
// caller's charge of every entry the cache holds (not entries only readers still hold).
// Thread-safe.
#ifndef CAIRN_ENGINE_LRU_CACHE_H_
#define CAIRN_ENGINE_LRU_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/checksum.h"

namespace cairn::engine {

struct CacheStats {
  uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0;
  uint64_t usage = 0, capacity = 0, entries = 0;
};

template <typename V>
class LruCache {
 public:
  // capacity in bytes, split evenly over 2^shard_bits shards.
  explicit LruCache(uint64_t capacity, int shard_bits = 4)
      : shards_(size_t{1} << shard_bits), shard_mask_((size_t{1} << shard_bits) - 1) {
    SetCapacity(capacity);
  }
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // nullptr on a miss. A hit makes the entry the most recently used.
  std::shared_ptr<V> Lookup(std::string_view key) {
    Shard& s = ShardFor(key);
    absl::MutexLock l(&s.mu);
    auto it = s.map.find(ToAbsl(key));
    if (it == s.map.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    Node* n = it->second.get();
    s.Unlink(n);
    s.PushFront(n);
    return n->value;
  }

  // Inserts or replaces key, charging `charge` bytes, and evicts least recently used
  // entries until the shard fits. An entry larger than a shard is not kept.
  void Insert(std::string_view key, std::shared_ptr<V> value, uint64_t charge) {
    Shard& s = ShardFor(key);
    absl::MutexLock l(&s.mu);
    inserts_.fetch_add(1, std::memory_order_relaxed);
    EraseLocked(s, key);
    if (charge > s.capacity) return;
    auto node = std::make_unique<Node>();
    node->key.assign(key.data(), key.size());
    node->value = std::move(value);
    node->charge = charge;
    Node* n = node.get();
    s.map.emplace(ToAbsl(n->key), std::move(node));
    s.PushFront(n);
    s.usage += charge;
    while (s.usage > s.capacity && s.tail.prev != &s.head) {
      Node* victim = s.tail.prev;
      evictions_.fetch_add(1, std::memory_order_relaxed);
      EraseLocked(s, victim->key);
    }
  }

  void Erase(std::string_view key) {
    Shard& s = ShardFor(key);
    absl::MutexLock l(&s.mu);
    EraseLocked(s, key);
  }

  void SetCapacity(uint64_t capacity) {
    const uint64_t per_shard = (capacity + shard_mask_) / shards_.size();
    for (Shard& s : shards_) {
      absl::MutexLock l(&s.mu);
      s.capacity = per_shard;
      while (s.usage > s.capacity && s.tail.prev != &s.head) {
        evictions_.fetch_add(1, std::memory_order_relaxed);
        EraseLocked(s, s.tail.prev->key);
      }
    }
  }

  CacheStats Stats() const {
    CacheStats st;
    st.hits = hits_.load(std::memory_order_relaxed);
    st.misses = misses_.load(std::memory_order_relaxed);
    st.inserts = inserts_.load(std::memory_order_relaxed);
    st.evictions = evictions_.load(std::memory_order_relaxed);
    for (const Shard& s : shards_) {
      absl::MutexLock l(&s.mu);
      st.usage += s.usage;
      st.capacity += s.capacity;
      st.entries += s.map.size();
    }
    return st;
  }

 private:
  struct Node {
    std::string key;
    std::shared_ptr<V> value;
    uint64_t charge = 0;
    Node* prev = nullptr;
    Node* next = nullptr;
  };
  struct Shard {
    Shard() {
      head.next = &tail;
      tail.prev = &head;
    }
    void Unlink(Node* n) {
      n->prev->next = n->next;
      n->next->prev = n->prev;
    }
    void PushFront(Node* n) {
      n->next = head.next;
      n->prev = &head;
      head.next->prev = n;
      head.next = n;
    }
    mutable absl::Mutex mu;
    // State below is guarded by mu. The map owns the nodes; the list (head.next is the
    // most recently used, tail.prev the least) orders them.
    absl::flat_hash_map<absl::string_view, std::unique_ptr<Node>> map;
    Node head, tail;
    uint64_t usage = 0;
    uint64_t capacity = 0;
  };

  static absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
  Shard& ShardFor(std::string_view key) { return shards_[Hash64(key) & shard_mask_]; }

  void EraseLocked(Shard& s, std::string_view key) {
    auto it = s.map.find(ToAbsl(key));
    if (it == s.map.end()) return;
    Node* n = it->second.get();
    s.Unlink(n);
    s.usage -= n->charge;
    s.map.erase(it);
  }

  std::vector<Shard> shards_;
  const size_t shard_mask_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0};
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_LRU_CACHE_H_
