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
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
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
  // capacity in bytes, split evenly over 2^shard_bits shards (at most 256).
  explicit LruCache(uint64_t capacity, int shard_bits = 4)
      : shards_(size_t{1} << shard_bits), shard_mask_((size_t{1} << shard_bits) - 1) {
    SetCapacity(capacity);
  }
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  ~LruCache() {
    for (Shard& s : shards_) {
      for (Node* n : s.map) DeleteNode(n);
    }
  }

  // nullptr on a miss. A hit makes the entry the most recently used.
  std::shared_ptr<V> Lookup(std::string_view key) {
    const KeyRef ref{key, Hash64(key)};
    Shard& s = ShardFor(ref.hash);
    absl::MutexLock l(&s.mu);
    auto it = s.map.find(ref);
    if (it == s.map.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    Node* n = *it;
    s.Unlink(n);
    s.PushFront(n);
    return n->value;
  }

  // Inserts or replaces key, charging `charge` bytes, and evicts least recently used
  // entries until the shard fits. An entry larger than a shard is not kept.
  void Insert(std::string_view key, std::shared_ptr<V> value, uint64_t charge) {
    const KeyRef ref{key, Hash64(key)};
    Shard& s = ShardFor(ref.hash);
    // Built outside the lock; the evicted entries are destroyed outside it too.
    Node* node = charge > s.capacity ? nullptr : NewNode(ref, std::move(value), charge);
    std::vector<Node*> evicted;
    {
      absl::MutexLock l(&s.mu);
      inserts_.fetch_add(1, std::memory_order_relaxed);
      if (auto it = s.map.find(ref); it != s.map.end()) {
        evicted.push_back(*it);
        RemoveLocked(s, it);
      }
      if (node != nullptr) {
        s.map.insert(node);
        s.PushFront(node);
        s.usage += charge;
        while (s.usage > s.capacity && s.tail.prev != &s.head) {
          evictions_.fetch_add(1, std::memory_order_relaxed);
          evicted.push_back(s.tail.prev);
          RemoveLocked(s, s.map.find(s.tail.prev));
        }
      }
    }
    for (Node* n : evicted) DeleteNode(n);
  }

  void Erase(std::string_view key) {
    const KeyRef ref{key, Hash64(key)};
    Shard& s = ShardFor(ref.hash);
    Node* erased = nullptr;
    {
      absl::MutexLock l(&s.mu);
      if (auto it = s.map.find(ref); it != s.map.end()) {
        erased = *it;
        RemoveLocked(s, it);
      }
    }
    if (erased != nullptr) DeleteNode(erased);
  }

  void SetCapacity(uint64_t capacity) {
    const uint64_t per_shard = (capacity + shard_mask_) / shards_.size();
    for (Shard& s : shards_) {
      std::vector<Node*> evicted;
      {
        absl::MutexLock l(&s.mu);
        s.capacity = per_shard;
        while (s.usage > s.capacity && s.tail.prev != &s.head) {
          evictions_.fetch_add(1, std::memory_order_relaxed);
          evicted.push_back(s.tail.prev);
          RemoveLocked(s, s.map.find(s.tail.prev));
        }
      }
      for (Node* n : evicted) DeleteNode(n);
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
  // One allocation per entry: the key's bytes follow the node.
  struct Node {
    uint64_t hash;
    std::shared_ptr<V> value;
    uint64_t charge;
    uint32_t key_size;
    Node* prev = nullptr;
    Node* next = nullptr;
    std::string_view key() const {
      return std::string_view(reinterpret_cast<const char*>(this + 1), key_size);
    }
  };
  struct KeyRef {
    std::string_view key;
    uint64_t hash;
  };
  // The map holds Node pointers, hashed by the stored hash and found by KeyRef without
  // building a node (absl's heterogeneous lookup).
  struct NodeHash {
    using is_transparent = void;
    size_t operator()(const Node* n) const { return n->hash; }
    size_t operator()(const KeyRef& k) const { return k.hash; }
  };
  struct NodeEq {
    using is_transparent = void;
    bool operator()(const Node* a, const Node* b) const { return a == b; }
    bool operator()(const Node* a, const KeyRef& b) const {
      return a->hash == b.hash && a->key() == b.key;
    }
    bool operator()(const KeyRef& a, const Node* b) const { return (*this)(b, a); }
  };
  using NodeSet = absl::flat_hash_set<Node*, NodeHash, NodeEq>;

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
    // State below is guarded by mu. The set owns the nodes; the list (head.next is the
    // most recently used, tail.prev the least) orders them.
    NodeSet map;
    Node head{}, tail{};
    uint64_t usage = 0;
    uint64_t capacity = 0;
  };

  static Node* NewNode(const KeyRef& ref, std::shared_ptr<V> value, uint64_t charge) {
    void* mem = ::operator new(sizeof(Node) + ref.key.size());
    Node* n =
        new (mem) Node{ref.hash, std::move(value), charge, static_cast<uint32_t>(ref.key.size())};
    if (!ref.key.empty())
      std::memcpy(static_cast<char*>(mem) + sizeof(Node), ref.key.data(), ref.key.size());
    return n;
  }
  static void DeleteNode(Node* n) {
    n->~Node();
    ::operator delete(n);
  }

  // The shard comes from the hash's top bits: absl's table uses the low ones.
  Shard& ShardFor(uint64_t hash) { return shards_[(hash >> 56) & shard_mask_]; }

  // Unlinks the entry at it; the caller deletes the node (outside the lock).
  void RemoveLocked(Shard& s, typename NodeSet::iterator it) {
    Node* n = *it;
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
