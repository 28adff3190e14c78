// A lock-free-read skiplist, after LevelDB's, with each key stored inline right after its
// node's links (as RocksDB's InlineSkipList does): a step of a search touches one cache
// line, not a node and then a key somewhere else in the arena.
//
// Thread safety: writes (AllocateKey + Insert) need external synchronization — cairn has
// one memtable writer at a time, the group-commit leader. Reads need none: nodes are
// never deleted while the list lives, and a node's links are published with release
// stores, so a reader sees either the old or the fully initialized new node.
//
// Keys are byte strings the caller encodes (cairn: a length-prefixed internal key and
// its value). Comparator is a functor with int operator()(const char*, const char*).
// It may also offer `Decode(const char*)` and `operator()(const char*, const Decoded&)`:
// a search then decodes its target once instead of at each of its ~30 comparisons.
#ifndef CAIRN_ENGINE_SKIPLIST_H_
#define CAIRN_ENGINE_SKIPLIST_H_

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <new>
#include <utility>

#include "base/arena.h"
#include "base/random.h"

namespace cairn::engine {

// What a search compares nodes with: the comparator's decoded key if it decodes.
template <class C>
struct SkipListTarget {
  using type = const char*;
};
template <class C>
  requires requires(const C& c) { c.Decode(nullptr); }
struct SkipListTarget<C> {
  using type = decltype(std::declval<const C&>().Decode(nullptr));
};

template <class Comparator>
class SkipList {
 private:
  struct Node;

 public:
  // Nodes are allocated in arena, which must outlive the list.
  SkipList(Comparator cmp, Arena* arena)
      : compare_(cmp), arena_(arena), head_(NewNode(kMaxHeight, 0)), rnd_(0xdeadbeef) {
    for (int i = 0; i < kMaxHeight; i++) head_->SetNext(i, nullptr);
  }
  SkipList(const SkipList&) = delete;
  SkipList& operator=(const SkipList&) = delete;

  // Returns room for a key of n bytes inside a new node; the caller writes the key there,
  // then passes the same pointer to Insert.
  char* AllocateKey(size_t n) {
    const int height = RandomHeight();
    Node* x = NewNode(height, n);
    x->StashHeight(height);
    return const_cast<char*>(x->Key());
  }

  // key: from AllocateKey. REQUIRES: nothing equal to key is in the list.
  void Insert(const char* key) {
    Node* x = Node::FromKey(key);
    const int height = x->UnstashHeight();
    Node* prev[kMaxHeight];
    Node* found = FindGreaterOrEqual(Target(key), prev);
    assert(found == nullptr || !Equal(key, found->Key()));
    (void)found;
    int max_height = GetMaxHeight();
    if (height > max_height) {
      for (int i = max_height; i < height; i++) prev[i] = head_;
      // Readers that see the new height before the new node find nullptr links from
      // head_ at the new levels and simply drop down a level.
      max_height_.store(height, std::memory_order_relaxed);
    }
    for (int i = 0; i < height; i++) {
      x->NoBarrierSetNext(i, prev[i]->NoBarrierNext(i));
      prev[i]->SetNext(i, x);
    }
  }

  // Inserts keys[0, n), each from AllocateKey, as Insert would one after another.
  // REQUIRES: keys sorted ascending; none equal to another or to a key in the list.
  // The searches of up to kGroup keys advance in lock-step, each step prefetching the node
  // every search compares next: their cache misses (a memtable larger than the CPU's
  // caches misses on most nodes of a search) overlap instead of adding up.
  void InsertSorted(const char* const* keys, size_t n) {
    for (size_t base = 0; base < n; base += kGroup) {
      InsertGroup(keys + base, std::min(kGroup, n - base));
    }
  }

  bool Contains(const char* key) const {
    Node* x = FindGreaterOrEqual(Target(key), nullptr);
    return x != nullptr && Equal(key, x->Key());
  }

  class Iterator {
   public:
    explicit Iterator(const SkipList* list) : list_(list), node_(nullptr) {}
    bool Valid() const { return node_ != nullptr; }
    const char* key() const { return node_->Key(); }
    void Next() {
      node_ = node_->Next(0);
      // Scans walk nodes scattered over the arena: start fetching the one after.
      if (node_ != nullptr) __builtin_prefetch(node_->NoBarrierNext(0));
    }
    void Prev() {
      node_ = list_->FindLessThan(node_->Key());
      if (node_ == list_->head_) node_ = nullptr;
    }
    void Seek(const char* target) {
      node_ = list_->FindGreaterOrEqual(list_->Target(target), nullptr);
    }
    void SeekToFirst() { node_ = list_->head_->Next(0); }
    void SeekToLast() {
      node_ = list_->FindLast();
      if (node_ == list_->head_) node_ = nullptr;
    }

   private:
    const SkipList* list_;
    Node* node_;
  };

 private:
  static constexpr int kMaxHeight = 12;
  static constexpr unsigned kBranching = 4;

  // Memory layout of a node of height h:
  //   next_[h-1] ... next_[1] | next_[0] | key bytes
  // The Node* points at next_[0]; higher levels lie below it, the key right after it.
  struct Node {
    Node* Next(int n) { return Link(n)->load(std::memory_order_acquire); }
    void SetNext(int n, Node* x) { Link(n)->store(x, std::memory_order_release); }
    Node* NoBarrierNext(int n) { return Link(n)->load(std::memory_order_relaxed); }
    void NoBarrierSetNext(int n, Node* x) { Link(n)->store(x, std::memory_order_relaxed); }
    const char* Key() const { return reinterpret_cast<const char*>(&next0_ + 1); }
    static Node* FromKey(const char* key) {
      return reinterpret_cast<Node*>(const_cast<char*>(key) - sizeof(Node));
    }
    // Between AllocateKey and Insert the node is unlinked: level 0 holds its height.
    void StashHeight(int h) {
      next0_.store(reinterpret_cast<Node*>(static_cast<intptr_t>(h)), std::memory_order_relaxed);
    }
    int UnstashHeight() {
      return static_cast<int>(reinterpret_cast<intptr_t>(next0_.load(std::memory_order_relaxed)));
    }

   private:
    std::atomic<Node*>* Link(int n) { return &next0_ - n; }
    std::atomic<Node*> next0_;
  };

  Node* NewNode(int height, size_t key_bytes) {
    const size_t links_below = sizeof(std::atomic<Node*>) * (height - 1);
    char* mem = arena_->AllocateAligned(links_below + sizeof(Node) + key_bytes);
    for (int i = 0; i < height; i++) {
      new (mem + sizeof(std::atomic<Node*>) * i) std::atomic<Node*>(nullptr);
    }
    return reinterpret_cast<Node*>(mem + links_below);
  }

  int GetMaxHeight() const { return max_height_.load(std::memory_order_relaxed); }

  int RandomHeight() {
    int height = 1;
    while (height < kMaxHeight && rnd_.OneIn(kBranching)) height++;
    return height;
  }

  bool Equal(const char* a, const char* b) const { return compare_(a, b) == 0; }

  // A search's target: decoded once if the comparator can.
  typename SkipListTarget<Comparator>::type Target(const char* key) const {
    if constexpr (requires { compare_.Decode(key); }) {
      return compare_.Decode(key);
    } else {
      return key;
    }
  }

  // First node >= key; fills prev[level] with the node before it at each level.
  template <class Key>
  Node* FindGreaterOrEqual(const Key& key, Node** prev) const {
    Node* x = head_;
    int level = GetMaxHeight() - 1;
    // The node last found >= key: dropping a level often leads straight back to it, and
    // comparing it again would only repeat a cache miss (RocksDB's trick).
    Node* last_bigger = nullptr;
    while (true) {
      Node* next = x->Next(level);
      if (next != nullptr && next != last_bigger) __builtin_prefetch(next->NoBarrierNext(level));
      if (next != nullptr && next != last_bigger && compare_(next->Key(), key) < 0) {
        x = next;
      } else {
        if (prev != nullptr) prev[level] = x;
        if (level == 0) return next;
        last_bigger = next;
        level--;
      }
    }
  }

  // Last node < key, or head_.
  Node* FindLessThan(const char* key) const {
    Node* x = head_;
    int level = GetMaxHeight() - 1;
    while (true) {
      Node* next = x->Next(level);
      if (next == nullptr || compare_(next->Key(), key) >= 0) {
        if (level == 0) return x;
        level--;
      } else {
        x = next;
      }
    }
  }

  Node* FindLast() const {
    Node* x = head_;
    int level = GetMaxHeight() - 1;
    while (true) {
      Node* next = x->Next(level);
      if (next == nullptr) {
        if (level == 0) return x;
        level--;
      } else {
        x = next;
      }
    }
  }

  static constexpr size_t kGroup = 8;

  // One search of InsertGroup: where it stands, and the node before its key per level.
  struct Search {
    typename SkipListTarget<Comparator>::type target;
    Node* x;
    Node* next;         // x's successor at `level`, prefetched, compared next round
    Node* last_bigger;  // as in FindGreaterOrEqual
    int level;
    Node* prev[kMaxHeight];
  };

  void Prefetch(const Node* node, int level) const {
    __builtin_prefetch(node);  // link 0 and the start of the key, compared next
    if (level > 0) __builtin_prefetch(reinterpret_cast<const char*>(node) - level * sizeof(Node*));
  }

  void InsertGroup(const char* const* keys, size_t n) {
    Search s[kGroup];
    const int top = GetMaxHeight() - 1;
    for (size_t i = 0; i < n; i++) {
      s[i].target = Target(keys[i]);
      s[i].x = head_;
      s[i].level = top;
      s[i].last_bigger = nullptr;
      s[i].next = head_->Next(top);
      if (s[i].next != nullptr) Prefetch(s[i].next, top);
    }
    // The searches of FindGreaterOrEqual, one step of each in turn.
    size_t remaining = n;
    bool done[kGroup] = {};
    while (remaining > 0) {
      for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        Search& t = s[i];
        if (t.next != nullptr && t.next != t.last_bigger && compare_(t.next->Key(), t.target) < 0) {
          t.x = t.next;
        } else {
          t.prev[t.level] = t.x;
          if (t.level == 0) {
            done[i] = true;
            remaining--;
            continue;
          }
          t.last_bigger = t.next;
          t.level--;
        }
        t.next = t.x->Next(t.level);
        if (t.next != nullptr && t.next != t.last_bigger) Prefetch(t.next, t.level);
      }
    }
    // Linked in order. The searches ran before the group's own nodes were in the list:
    // at each level, step past those of them that precede the key (recent, so cached).
    for (size_t i = 0; i < n; i++) {
      Node* node = Node::FromKey(keys[i]);
      const int height = node->UnstashHeight();
      if (height > GetMaxHeight()) max_height_.store(height, std::memory_order_relaxed);
      for (int level = 0; level < height; level++) {
        Node* p = level <= top ? s[i].prev[level] : head_;
        while (true) {
          Node* after = p->NoBarrierNext(level);
          if (after == nullptr || compare_(after->Key(), s[i].target) >= 0) break;
          p = after;
        }
        node->NoBarrierSetNext(level, p->NoBarrierNext(level));
        p->SetNext(level, node);
      }
    }
  }

  Comparator const compare_;
  Arena* const arena_;
  Node* const head_;
  std::atomic<int> max_height_{1};
  Random rnd_;  // used only by the writer
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_SKIPLIST_H_
