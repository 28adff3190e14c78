#include "server/key_snapshot.h"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <map>
#include <tuple>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/numbers.h"
#include "base/status.h"
#include "cluster/counter.h"
#include "cluster/registers.h"
#include "cluster/ring.h"
#include "cluster/type_merge.h"
#include "store/collection.h"

namespace cairn::server {

namespace pb = cluster::pb;

absl::Status CrossSlot() {
  return WithKind(absl::InvalidArgumentError("Keys in request don't hash to the same slot"),
                  ErrorKind::kCrossSlot);
}

std::string_view ReplicatedTypeName(const pb::Record& record) {
  return store::TypeName(static_cast<store::ValueType>(record.type() == 0 ? 's' : record.type()));
}

char RegisterTypeOf(const pb::Record& record) {
  if (record.tombstone()) return 0;
  if (record.chunked()) return 'b';
  if (!cluster::HasRegisters(record.type())) return 0;
  pb::CollectionState state;
  return state.ParseFromString(record.value()) && state.registers() ? static_cast<char>(record.type()) : 0;
}

namespace {

uint64_t DecodeBigEndian64(std::string_view b) {
  uint64_t v = 0;
  for (char c : b.substr(0, 8)) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

// Strings stop at Redis's proto-max-bulk-len: a chunk index past that is corrupt.
constexpr uint64_t kMaxChunks = (uint64_t{512} << 20) / cluster::kChunkBytes;

// The string a chunked string's chunks hold: each at index * kChunkBytes (a gap, left by
// concurrent writes of different lengths, reads as zero bytes, as SETRANGE pads).
std::string AssembleChunks(const std::map<uint64_t, std::string>& chunks) {
  if (chunks.empty()) return "";
  const auto& [last, tail] = *chunks.rbegin();
  std::string out(last * cluster::kChunkBytes + tail.size(), '\0');
  for (const auto& [i, bytes] : chunks) out.replace(i * cluster::kChunkBytes, bytes.size(), bytes);
  return out;
}

// The members agree with the metadata as the single-node commands expect (they trust
// it): as many as it counts; a list's are its indices from head on; a sorted set's come
// in pairs (by member -> 8-byte score, by score -> "") naming the same elements.
absl::Status CheckMembers(store::ValueType type, const store::CollectionMeta& meta,
                          const pb::CollectionState& state) {
  const auto bad = [] { return CorruptionError("replicated collection's members do not match its metadata"); };
  const uint64_t n = static_cast<uint64_t>(state.members_size());
  if (type == store::ValueType::kZSet) {
    if (n != 2 * meta.size) return bad();
    std::map<std::string, std::string> by_member;
    for (int i = 0; i < state.members_size(); i++) {
      const std::string& m = state.members(i);
      if (!m.empty() && m[0] == store::kZSetByMember && state.values(i).size() == 8) {
        by_member.emplace(m.substr(1), state.values(i));
      }
    }
    if (by_member.size() != meta.size) return bad();
    for (int i = 0; i < state.members_size(); i++) {
      const std::string& m = state.members(i);
      if (m.empty() || m[0] != store::kZSetByScore) continue;
      auto it = m.size() >= 9 ? by_member.find(m.substr(9)) : by_member.end();
      if (it == by_member.end() || it->second != m.substr(1, 8) || !state.values(i).empty()) {
        return bad();
      }
    }
    return absl::OkStatus();
  }
  if (type == store::ValueType::kStream) {  // entries ('e' members) and group state
    uint64_t entries = 0;
    for (const std::string& m : state.members()) entries += !m.empty() && m[0] == 'e';
    return entries == meta.size ? absl::OkStatus() : bad();
  }
  if (n != meta.size) return bad();
  if (type == store::ValueType::kList) {
    for (uint64_t i = 0; i < n; i++) {
      if (state.members(static_cast<int>(i)) != store::ListIndexMember(meta.head + i)) return bad();
    }
  }
  return absl::OkStatus();
}

}  // namespace

KeySnapshot::KeySnapshot(int db, std::string_view key, int64_t now_ms, Loader loader)
    : db_(db),
      first_key_(key),
      tag_(cluster::HashTag(key)),
      now_ms_(now_ms),
      loader_(std::move(loader)) {}

absl::Status KeySnapshot::Load(int db, std::string_view key, const pb::Record& record) {
  if (db_ < 0 || (db != db_ && !other_dbs_.contains(db)) || cluster::HashTag(key) != tag_) {
    return CrossSlot();
  }
  KeyState& st = KeysOf(db)[std::string(key)];
  store::Record r;
  if (ReplicatedTypeName(record) == "none") return CorruptionError("replicated value of an unknown type");
  r.type = static_cast<store::ValueType>(record.type() == 0 ? 's' : record.type());
  r.expire_at_ms = record.expire_at_ms();
  if (record.chunked()) {
    // A chunked string: its bytes are its chunk registers, synced with R replicas first.
    // value: its generation, fixed64 BE; only that generation's chunks are its bytes.
    if (r.type != store::ValueType::kString || record.value().size() != 8 || record.has_counter()) {
      return CorruptionError("chunked record that is not a string header");
    }
    if (source_ == nullptr) return CorruptionError("chunked string cannot be read here");
    CAIRN_RETURN_IF_ERROR(source_->Sync(db, 'b', key));
    uint64_t generation = 0, index = 0;
    (void)cluster::ParseChunkMember(record.value() + std::string(8, '\0'), &generation, &index);
    std::map<uint64_t, std::string> chunks;
    bool bad = false;
    CAIRN_RETURN_IF_ERROR(source_->ScanLocal(
        db, 'b', key, cluster::ChunkGenerationPrefix(generation), cluster::ChunkGenerationPrefix(generation + 1),
        false, [&](std::string_view m, std::string_view v) {
          uint64_t g = 0, i = 0;
          bad = !cluster::ParseChunkMember(m, &g, &i) || g != generation || i >= kMaxChunks ||
                v.size() > cluster::kChunkBytes;
          if (!bad) chunks.emplace(i, std::string(v));
          return !bad;
        }));
    if (bad) return CorruptionError("chunk register of a string does not parse");
    r.value = AssembleChunks(chunks);
    st.chunked = true;
    st.in_place = true;
    st.chunk_generation = generation;
    st.chunks = std::move(chunks);
    // Expired: a string written under the key from now on is a new one.
    st.chunks_replaced = Expired(r);
  } else if (!store::IsCollection(r.type)) {
    r.value = record.value();
  } else {
    pb::CollectionState state;
    if (!state.ParseFromString(record.value()) || state.members_size() != state.values_size()) {
      return CorruptionError("replicated collection does not parse");
    }
    r.value = state.meta();
    store::CollectionMeta meta;
    CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(r.type, r.value, &meta));
    if (state.registers()) {
      // A header: the members are registers, read when a command touches them; the size
      // is what this replica holds (the registers' count converges as they do).
      if (!cluster::HasRegisters(static_cast<uint32_t>(r.type)) || state.members_size() != 0) {
        return CorruptionError("collection header with members, or of a type without registers");
      }
      if (source_ == nullptr) return CorruptionError("collection kept as registers cannot be read here");
      if (handed_out_.contains(meta.version)) {
        return absl::AbortedError("collection version collision; try the command again");
      }
      Bump(meta.version);
      CAIRN_RETURN_IF_ERROR(source_->Sync(db, static_cast<char>(r.type), key));
      auto count = source_->LocalCount(db, static_cast<char>(r.type), key);
      if (!count.ok()) return count.status();
      meta.size = *count;
      if (r.type == store::ValueType::kStream) {
        // Both sides of a partition added entries; the newest header is one side's. The
        // last ID is at least the largest entry's, and the entries added at least the
        // count, so XADD stays above every entry and lag stays sane.
        CAIRN_RETURN_IF_ERROR(source_->ScanLocal(db, 'x', key, "e", "f", /*reverse=*/true,
                                                 [&](std::string_view m, std::string_view) {
                                                   if (m.size() != 17) return false;
                                                   const uint64_t ms = DecodeBigEndian64(m.substr(1));
                                                   const uint64_t seq = DecodeBigEndian64(m.substr(9));
                                                   if (std::tie(ms, seq) > std::tie(meta.last_ms, meta.last_seq)) {
                                                     meta.last_ms = ms;
                                                     meta.last_seq = seq;
                                                   }
                                                   return false;
                                                 }));
        meta.entries_added = std::max(meta.entries_added, meta.size);
      }
      r.value = store::EncodeCollectionMeta(r.type, meta);
      // Every member removed: the collection is gone; but a stream exists empty.
      const bool empty = *count == 0 && r.type != store::ValueType::kStream;
      st.members.clear();
      st.dots.clear();
      st.counters.clear();
      st.registers = true;
      st.reg_type = static_cast<char>(r.type);
      st.reg_version = meta.version;
      if (empty && !Expired(r)) {
        // Every member removed (on both sides of a partition, or by a DEL that lost its
        // header write): the collection is gone. Its header goes with this command, so
        // EXISTS, KEYS and DBSIZE, which read headers, agree.
        st.loaded = record;
        st.changed = true;
        return absl::OkStatus();
      }
      if (Expired(r)) return absl::OkStatus();
      st.record = std::move(r);
      st.loaded = record;
      return absl::OkStatus();
    }
    CAIRN_RETURN_IF_ERROR(CheckMembers(r.type, meta, state));
    if (handed_out_.contains(meta.version)) {
      // A version given to a new collection of this run (clocks far apart can repeat
      // one): its members would mix with these. Nothing is written; the client retries.
      return absl::AbortedError("collection version collision; try the command again");
    }
    Bump(meta.version);
    st.members.clear();
    st.dots.clear();
    st.counters.clear();
    for (int i = 0; i < state.members_size(); i++) {
      auto at = std::make_pair(meta.version, state.members(i));
      const pb::ClockEntry& dot =
          i < state.dots_size() && !state.dots(i).node().empty() ? state.dots(i) : record.dot();
      if (!dot.node().empty()) st.dots.emplace(at, dot);
      st.members.emplace(std::move(at), state.values(i));
    }
    for (const pb::MemberCounter& mc : state.counters()) {
      auto at = std::make_pair(meta.version, mc.member());
      if (!st.members.contains(at)) continue;
      pb::Counter c = mc.counter();
      if (c.offset_version() == cluster::kOffsetOfThisWrite) {
        // The offset was set by the write that set the member: its dot's timestamp.
        auto dot = st.dots.find(at);
        c.set_offset_version(dot != st.dots.end() ? dot->second.timestamp() : record.version());
      }
      st.counters.emplace(std::move(at), std::move(c));
    }
  }
  if (Expired(r)) return absl::OkStatus();  // absent; its context still covers it
  st.record = std::move(r);
  st.loaded = record;
  return absl::OkStatus();
}

absl::StatusOr<KeySnapshot::KeyState*> KeySnapshot::State(int db, std::string_view key) {
  if ((db != db_ && !other_dbs_.contains(db)) || cluster::HashTag(key) != tag_) return CrossSlot();
  KeyMap& keys = KeysOf(db);
  if (auto it = keys.find(key); it != keys.end()) return &it->second;
  if (loader_ == nullptr) return &keys[std::string(key)];
  auto loaded = loader_(db, key);
  if (!loaded.ok()) {
    if (load_error_.ok()) load_error_ = loaded.status();
    return loaded.status();
  }
  if (loaded->record) {
    if (absl::Status s = Load(db, key, *loaded->record); !s.ok()) {
      if (load_error_.ok()) load_error_ = s;
      return s;
    }
  }
  KeyState& st = keys[std::string(key)];
  st.context = std::move(loaded->context);
  st.counter_history = std::move(loaded->counter_history);
  return &st;
}

uint64_t KeySnapshot::NewVersion() {
  static std::atomic<uint64_t> sequence{0};
  const uint64_t unique = (static_cast<uint64_t>(std::max<int64_t>(now_ms_, 0)) << 16) |
                          (sequence.fetch_add(1, std::memory_order_relaxed) & 0xffff);
  last_version_ = std::max(last_version_ + 1, unique);
  handed_out_.insert(last_version_);
  return last_version_;
}

uint64_t KeySnapshot::MinCount() const {
  // Counts of a node's entry follow the clock (in microseconds' worth of room per ms), so
  // an entry started again is newer than old copies of it (counter.h, AddIncrement).
  return static_cast<uint64_t>(std::max<int64_t>(now_ms_, 0)) * 1000;
}

std::optional<pb::Counter> KeySnapshot::DeletionCounter(int db, std::string_view key) const {
  const KeyMap* keys = FindDb(db);
  if (keys == nullptr) return std::nullopt;
  auto it = keys->find(key);
  if (it == keys->end() || !it->second.loaded || !it->second.loaded->has_counter()) {
    return std::nullopt;
  }
  return cluster::ResetCounter(it->second.loaded->counter(), std::nullopt,
                               cluster::kOffsetOfThisWrite);
}

std::vector<std::pair<int, std::string>> KeySnapshot::ChangedKeys() const {
  std::vector<std::pair<int, std::string>> out;
  for (const auto& [db, keys] : keys_) {
    for (const auto& [key, st] : keys) {
      if (st.changed) out.emplace_back(db, key);
    }
  }
  return out;
}

absl::StatusOr<bool> KeySnapshot::WasLive(int db, std::string_view key) {
  auto st = State(db, key);
  if (!st.ok()) return st.status();
  return (*st)->loaded.has_value();
}

absl::StatusOr<cluster::Clock> KeySnapshot::ContextOf(int db, std::string_view key) {
  auto st = State(db, key);
  if (!st.ok()) return st.status();
  return (*st)->context;
}

namespace {

// A member's value as a number's text: a hash field's value, a sorted set's score
// (empty: not a finite number).
std::string MemberNumber(store::ValueType type, const std::string& value) {
  if (type != store::ValueType::kZSet) return value;
  return value.size() == 8 ? ScoreText(store::DecodeScore(value)) : std::string();
}

}  // namespace

absl::Status KeySnapshot::ExportMemberCounter(const KeyState& st, store::ValueType type,
                                              const std::pair<uint64_t, std::string>& at,
                                              const std::string& value,
                                              pb::CollectionState* state) const {
  if (type == store::ValueType::kZSet && (at.second.empty() || at.second[0] != store::kZSetByMember)) {
    return absl::OkStatus();
  }
  auto loaded = st.counters.find(at);
  auto inc = st.incremented.find(at);
  std::optional<pb::Counter> counter;
  const std::string after = MemberNumber(type, value);
  const std::string before =
      inc == st.incremented.end() ? "" : inc->second.before ? MemberNumber(type, *inc->second.before) : "0";
  if (inc != st.incremented.end() && !st.rewritten.contains(at) && !before.empty() && !after.empty()) {
    // Only increments changed it: this node's contribution to its counter (or to a new
    // one: a plain number read as its offset, set when that number was written, or 0).
    pb::Counter c;
    if (loaded != st.counters.end()) {
      c = loaded->second;
    } else if (inc->second.before) {
      auto plain = cluster::CounterFromValue(before, inc->second.set_at);
      if (!plain) return absl::OkStatus();  // not a number: the command did not change it
      c = std::move(*plain);
    }
    CAIRN_RETURN_IF_ERROR(cluster::AddIncrement(&c, st.counter_node, before, after, MinCount()));
    counter = std::move(c);
  } else if (loaded != st.counters.end() && (st.rewritten.contains(at) || inc != st.incremented.end())) {
    // A new value over a counter: a reset that keeps the increments it saw (none if the
    // new value is not a finite number: it is then a plain value).
    if (!after.empty()) counter = cluster::ResetCounter(loaded->second, after, cluster::kOffsetOfThisWrite);
  } else if (loaded != st.counters.end()) {
    counter = loaded->second;
  }
  if (counter) {
    pb::MemberCounter* mc = state->add_counters();
    mc->set_member(at.second);
    *mc->mutable_counter() = std::move(*counter);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::Record>> KeySnapshot::Export(int db, std::string_view key) const {
  const KeyMap* keys = FindDb(db);
  if (keys == nullptr) return std::optional<pb::Record>();
  auto it = keys->find(key);
  if (it == keys->end()) return std::optional<pb::Record>();
  const KeyState& st = it->second;
  if (!st.record || Expired(*st.record)) return std::optional<pb::Record>();
  pb::Record out;
  out.set_type(static_cast<uint32_t>(st.record->type));
  out.set_expire_at_ms(st.record->expire_at_ms);
  if (ChunkedNow(st)) {  // the bytes go as chunk registers (ExportChunks); no counter
    out.set_chunked(true);
    out.set_value(cluster::ChunkGenerationPrefix(ChunkGeneration(st)));
    return out;
  }
  if (!store::IsCollection(st.record->type)) {
    out.set_value(st.record->value);
    // The counter the key held: its own, or (deleted or expired) the history of its
    // counters, reset to 0 by this write so its nodes' counts go on growing.
    const bool was_string = st.loaded && ReplicatedTypeName(*st.loaded) == "string";
    std::optional<pb::Counter> held;
    if (was_string && st.loaded->has_counter()) {
      held = st.loaded->counter();
    } else if (!st.loaded && st.counter_history) {
      held = cluster::ResetCounter(*st.counter_history, "0", cluster::kOffsetOfThisWrite);
    }
    if (!st.plain_write && !st.counter_node.empty()) {
      // Only increments changed its value: their sum is this node's contribution to the
      // counter (or to a new one: a plain number read as its offset, or 0).
      pb::Counter counter;
      if (held) {
        counter = std::move(*held);
      } else if (was_string) {
        auto plain = cluster::CounterFromValue(st.loaded->value(), st.loaded->version());
        if (!plain) return absl::InvalidArgumentError("value is not a number");
        counter = std::move(*plain);
      }
      CAIRN_RETURN_IF_ERROR(cluster::AddIncrement(&counter, st.counter_node,
                                                  was_string ? st.loaded->value() : "0",
                                                  st.record->value, MinCount()));
      *out.mutable_counter() = std::move(counter);
    } else if (held && st.plain_write) {
      // A new value over a counter: a reset that keeps the increments it saw; a value
      // that is not a number stays plain (the last writer wins over the counter).
      if (auto reset = cluster::ResetCounter(*held, st.record->value, cluster::kOffsetOfThisWrite)) {
        *out.mutable_counter() = std::move(*reset);
      }
    } else if (held) {
      *out.mutable_counter() = std::move(*held);  // its expiry changed, not its value
    }
    return out;
  }
  store::CollectionMeta meta;
  CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(st.record->type, st.record->value, &meta));
  pb::CollectionState state;
  if (source_ != nullptr && cluster::HasRegisters(static_cast<uint32_t>(st.record->type))) {
    // A header: the members go as registers (ExportRegisters); the size is each replica's.
    meta.size = 0;
    state.set_meta(store::EncodeCollectionMeta(st.record->type, meta));
    state.set_registers(true);
    out.set_value(state.SerializeAsString());
    return out;
  }
  state.set_meta(st.record->value);
  for (auto m = st.members.lower_bound({meta.version, ""});
       m != st.members.end() && m->first.first == meta.version; ++m) {
    state.add_members(m->first.second);
    state.add_values(m->second);
    if (st.record->type != store::ValueType::kList && st.record->type != store::ValueType::kStream) {
      auto dot = st.dots.find(m->first);
      *state.add_dots() = dot != st.dots.end() ? dot->second : pb::ClockEntry();
    }
    CAIRN_RETURN_IF_ERROR(ExportMemberCounter(st, st.record->type, m->first, m->second, &state));
  }
  out.set_value(state.SerializeAsString());
  return out;
}

absl::StatusOr<std::vector<KeySnapshot::RegisterWrite>> KeySnapshot::ExportRegisters(
    int db, std::string_view key) {
  std::vector<RegisterWrite> out;
  if (source_ == nullptr) return out;
  KeyMap& keys = KeysOf(db);
  auto it = keys.find(key);
  if (it == keys.end()) return out;
  CAIRN_RETURN_IF_ERROR(ExportMemberRegisters(db, key, it->second, &out));
  CAIRN_RETURN_IF_ERROR(ExportChunks(db, key, it->second, &out));
  return out;
}

bool KeySnapshot::ChunkedNow(const KeyState& st) const {
  return source_ != nullptr && st.in_place && st.record && !Expired(*st.record) &&
         st.record->type == store::ValueType::kString && st.record->value.size() > cluster::kChunkBytes;
}

uint64_t KeySnapshot::ChunkGeneration(const KeyState& st) const {
  if (st.chunked && !st.chunks_replaced) return st.chunk_generation;
  if (st.new_chunk_generation == 0) {
    // A new string's: random, so two sides of a partition never pick the same one.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    while (st.new_chunk_generation == 0) st.new_chunk_generation = rng();
  }
  return st.new_chunk_generation;
}

absl::Status KeySnapshot::ExportChunks(int db, std::string_view key, KeyState& st,
                                       std::vector<RegisterWrite>* out) {
  const bool now = ChunkedNow(st);
  if (!now && !st.chunked) return absl::OkStatus();  // whole before and after
  // The loaded string's chunks, when this is the same string (same generation): only
  // those that changed are written. Otherwise they all go (a write concurrent with this
  // one to the old generation stays there, never seen under the new header).
  const bool same = now && st.chunked && !st.chunks_replaced;
  const uint64_t generation = ChunkGeneration(st);
  // Context: none, so each write supersedes what this replica holds (synced at R).
  const auto write = [&](uint64_t g, uint64_t i, std::optional<std::string_view> bytes) {
    RegisterWrite w;
    w.register_key = cluster::RegisterKey('b', key, cluster::ChunkMember(g, i));
    if (bytes) {
      w.record.set_value(std::string(*bytes));
    } else {
      w.record.set_tombstone(true);
    }
    out->push_back(std::move(w));
  };
  uint64_t n = 0;
  if (now) {
    const std::string& value = st.record->value;
    n = (value.size() + cluster::kChunkBytes - 1) / cluster::kChunkBytes;
    for (uint64_t i = 0; i < n; i++) {
      const std::string_view piece = std::string_view(value).substr(i * cluster::kChunkBytes, cluster::kChunkBytes);
      auto b = same ? st.chunks.find(i) : st.chunks.end();
      if (b == st.chunks.end() || b->second != piece) write(generation, i, piece);
    }
  }
  if (st.chunked) {  // the loaded chunks past the end, or all of them
    for (auto b = st.chunks.lower_bound(same ? n : 0); b != st.chunks.end(); ++b) {
      write(st.chunk_generation, b->first, std::nullopt);
    }
  }
  return absl::OkStatus();
}

absl::Status KeySnapshot::ExportMemberRegisters(int db, std::string_view key, KeyState& st,
                                                std::vector<RegisterWrite>* out) {
  // What the key is now: a collection kept as registers (its type and version), or not.
  std::optional<std::pair<char, uint64_t>> now;
  if (st.record && !Expired(*st.record) && cluster::HasRegisters(static_cast<uint32_t>(st.record->type))) {
    store::CollectionMeta meta;
    CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(st.record->type, st.record->value, &meta));
    now = std::make_pair(static_cast<char>(st.record->type), meta.version);
  }
  const bool same = st.registers && now && now->first == st.reg_type && now->second == st.reg_version;
  const auto tombstone = [&](char type, const std::string& name) {
    RegisterWrite w;
    w.register_key = cluster::RegisterKey(type, key, name);
    w.record.set_tombstone(true);
    if (auto f = st.fetched.find(name); f != st.fetched.end()) {
      w.context = f->second.context;
      // A member counter's increments the removal did not see still count (counter.h).
      if (f->second.merged && f->second.merged->has_counter()) {
        if (auto reset = cluster::ResetCounter(f->second.merged->counter(), std::nullopt,
                                               cluster::kOffsetOfThisWrite)) {
          *w.record.mutable_counter() = std::move(*reset);
        }
      }
    }
    out->push_back(std::move(w));
  };
  if (st.registers && !same) {
    // The collection the registers held is gone (deleted, expired, overwritten, or a new
    // version): each of its members becomes a tombstone.
    std::set<std::string> old;
    CAIRN_RETURN_IF_ERROR(source_->ScanLocal(db, st.reg_type, key, "", "", false,
                                             [&](std::string_view m, std::string_view) {
                                               old.emplace(m);
                                               return true;
                                             }));
    for (const auto& [name, read] : st.fetched) {
      if (read.merged) old.insert(name);
    }
    for (const std::string& name : old) tombstone(st.reg_type, name);
  }
  if (!now) return absl::OkStatus();
  const auto [type, version] = *now;
  if (!st.registers || st.reg_type != type) {
    // A new collection: registers of this type left by an earlier one (deleted by a
    // plain DEL or SET, which do not visit members) would show through: they go.
    CAIRN_RETURN_IF_ERROR(source_->Sync(db, type, key));
    std::vector<std::string> stale;
    CAIRN_RETURN_IF_ERROR(source_->ScanLocal(db, type, key, "", "", false,
                                             [&](std::string_view m, std::string_view) {
                                               stale.emplace_back(m);
                                               return true;
                                             }));
    for (const std::string& name : stale) tombstone(type, name);
  }
  const store::ValueType vtype = static_cast<store::ValueType>(type);
  for (auto m = st.members.lower_bound({version, ""}); m != st.members.end() && m->first.first == version; ++m) {
    const auto& at = m->first;
    auto inc = st.incremented.find(at);
    const bool rewritten = st.rewritten.contains(at);
    if (same && !rewritten && inc == st.incremented.end()) continue;  // not written
    std::string name = at.second;
    if (type == 'z') {
      if (name.empty() || name[0] != store::kZSetByMember) continue;  // the score index is derived
      name.erase(0, 1);
    }
    RegisterWrite w;
    w.register_key = cluster::RegisterKey(type, key, name);
    const std::string after = MemberNumber(vtype, m->second);
    if (type == 'z') {
      // The score as text; an infinite one too (ScoreText has no number for it).
      const double score = store::DecodeScore(m->second);
      w.record.set_value(std::isinf(score) ? (score > 0 ? "inf" : "-inf") : after);
    } else {
      w.record.set_value(type == 't' ? std::string() : m->second);
    }
    const RegisterSource::Read* fetched = nullptr;
    if (auto f = st.fetched.find(name); f != st.fetched.end() && same) fetched = &f->second;
    if (fetched != nullptr) w.context = fetched->context;
    // The counter the member held: its register's, the history of a deleted one's, or
    // (a collection moving to registers) the one loaded with it.
    std::optional<pb::Counter> held;
    if (fetched != nullptr && fetched->merged && fetched->merged->has_counter()) {
      held = fetched->merged->counter();
    } else if (fetched != nullptr && !fetched->merged && fetched->history) {
      held = cluster::ResetCounter(*fetched->history, "0", cluster::kOffsetOfThisWrite);
    } else if (auto c = st.counters.find(at); c != st.counters.end()) {
      held = c->second;
    }
    const std::string before = inc == st.incremented.end() ? ""
                               : inc->second.before      ? MemberNumber(vtype, *inc->second.before)
                                                         : "0";
    if (inc != st.incremented.end() && !rewritten && !before.empty() && !after.empty()) {
      // Only increments changed it: this node's contribution to its counter.
      pb::Counter c;
      if (held) {
        c = std::move(*held);
      } else if (inc->second.before) {
        auto plain = cluster::CounterFromValue(before, inc->second.set_at);
        if (plain) c = std::move(*plain);
      }
      CAIRN_RETURN_IF_ERROR(cluster::AddIncrement(&c, st.counter_node, before, after, MinCount()));
      *w.record.mutable_counter() = std::move(c);
    } else if (held && (rewritten || inc != st.incremented.end())) {
      if (!after.empty()) {
        if (auto reset = cluster::ResetCounter(*held, after, cluster::kOffsetOfThisWrite)) {
          *w.record.mutable_counter() = std::move(*reset);
        }
      }
    } else if (held) {
      *w.record.mutable_counter() = std::move(*held);
    }
    out->push_back(std::move(w));
  }
  if (same) {
    for (const auto& at : st.deleted) {
      if (at.first != version) continue;
      std::string name = at.second;
      if (type == 'z') {
        if (name.empty() || name[0] != store::kZSetByMember) continue;
        name.erase(0, 1);
      }
      auto f = st.fetched.find(name);
      if (f != st.fetched.end() && !f->second.merged) continue;  // was not there
      tombstone(type, name);
    }
  }
  return absl::OkStatus();
}

absl::Status KeySnapshot::Get(int db, std::string_view key, store::Record* record) {
  auto st = State(db, key);
  if (!st.ok()) return st.status();
  if (!(*st)->record || Expired(*(*st)->record)) return absl::NotFoundError("");
  *record = *(*st)->record;
  return absl::OkStatus();
}

absl::Status KeySnapshot::Put(int db, std::string_view key, const store::Record& record,
                              const store::WriteOptions&) {
  return Apply({store::Mutation::Put(db, std::string(key), record)}, {});
}

absl::Status KeySnapshot::Delete(int db, std::string_view key, const store::WriteOptions&) {
  return Apply({store::Mutation::Delete(db, std::string(key))}, {});
}

absl::Status KeySnapshot::Apply(const std::vector<store::Mutation>& batch,
                                const store::WriteOptions&) {
  std::vector<KeyState*> states;
  for (const store::Mutation& m : batch) {  // all or nothing: check (and load) first
    auto st = State(m.db, m.key);
    if (!st.ok()) return st.status();
    states.push_back(*st);
    if (m.kind == store::Mutation::Kind::kPut &&
        (m.record.expire_at_ms < 0 || m.record.expire_at_ms > store::kMaxExpireAtMs)) {
      return absl::InvalidArgumentError("expire time out of range");
    }
  }
  for (size_t i = 0; i < batch.size(); i++) {
    const store::Mutation& m = batch[i];
    KeyState& st = *states[i];
    st.changed = true;
    const bool string_put =
        m.kind == store::Mutation::Kind::kPut && m.record.type == store::ValueType::kString;
    if (!counter_node_.empty()) st.counter_node = counter_node_;
    if (string_put && (!counter_node_.empty() || expiry_only_)) {
      // an increment, or a change of the expiry alone: a counter stays one
    } else {
      st.plain_write = true;
    }
    switch (m.kind) {
      case store::Mutation::Kind::kPut:
        st.record = m.record;
        if (!expiry_only_) {
          st.in_place = in_place_ && string_put;
          if (!st.in_place) st.chunks_replaced = true;  // a new value, not a change of it
        }
        break;
      case store::Mutation::Kind::kDelete:
        st.record.reset();
        st.chunks_replaced = true;
        break;
      case store::Mutation::Kind::kPutMember: {
        Bump(m.version);
        const auto at = std::make_pair(m.version, m.member);
        if (counter_node_.empty()) {
          st.rewritten.insert(at);
        } else if (!st.incremented.contains(at)) {
          auto cur = Current(m.db, m.key, st, at);
          if (!cur.ok()) return cur.status();
          auto dot = st.dots.find(at);
          uint64_t set_at = dot != st.dots.end() ? dot->second.timestamp() : 0;
          if (st.registers && at.first == st.reg_version) {
            auto read = Fetch(m.db, m.key, st, at.second);
            if (read.ok() && *read != nullptr && (*read)->merged) set_at = (*read)->merged->version();
          }
          st.incremented.emplace(at, KeyState::Incremented{std::move(*cur), set_at});
        }
        st.members[at] = m.value;
        st.dots.erase(at);
        st.deleted.erase(at);
        break;
      }
      case store::Mutation::Kind::kDeleteMember: {
        const auto at = std::make_pair(m.version, m.member);
        st.members.erase(at);
        st.dots.erase(at);
        st.counters.erase(at);  // a member added again starts a new counter
        st.incremented.erase(at);
        st.rewritten.erase(at);
        if (st.registers && at.first == st.reg_version) st.deleted.insert(at);
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status KeySnapshot::Scan(
    int db, std::string_view start, std::string_view end,
    absl::FunctionRef<bool(std::string_view key, const store::RecordView& record)> fn) {
  const KeyMap* keys = FindDb(db);
  if (keys == nullptr) return absl::OkStatus();
  for (auto it = keys->lower_bound(start); it != keys->end(); ++it) {
    if (!end.empty() && it->first >= end) break;
    const auto& r = it->second.record;
    if (!r || Expired(*r)) continue;
    if (!fn(it->first, store::RecordView{r->type, r->expire_at_ms, r->value})) break;
  }
  return absl::OkStatus();
}

absl::Status KeySnapshot::Clear(int db) {
  return absl::InvalidArgumentError("FLUSHDB is not supported inside a command of one hash tag");
}

absl::Status KeySnapshot::SwapDb(int a, int b) {
  return absl::InvalidArgumentError("SWAPDB is not supported in cluster mode");
}

absl::StatusOr<const RegisterSource::Read*> KeySnapshot::Fetch(int db, std::string_view key,
                                                              KeyState& st,
                                                              std::string_view member) {
  std::string_view name = member;
  if (st.reg_type == 'z') {
    if (member.empty() || member[0] != store::kZSetByMember) return nullptr;
    name.remove_prefix(1);
  }
  if (auto it = st.fetched.find(name); it != st.fetched.end()) return &it->second;
  auto read = source_->ReadRegister(db, cluster::RegisterKey(st.reg_type, key, name));
  if (!read.ok()) {
    if (load_error_.ok()) load_error_ = read.status();
    return read.status();
  }
  return &st.fetched.emplace(std::string(name), std::move(*read)).first->second;
}

namespace {

// A register's value in the single-node commands' form (a sorted set's score as 8 bytes).
std::optional<std::string> SingleNodeValue(char type, const std::optional<pb::Record>& merged) {
  if (!merged) return std::nullopt;
  if (type != 'z') return merged->value();
  long double score;
  if (!ParseLongDouble(merged->value(), &score)) return std::nullopt;
  return store::EncodeScore(static_cast<double>(score));
}

}  // namespace

absl::StatusOr<std::optional<std::string>> KeySnapshot::Current(
    int db, std::string_view key, KeyState& st, const std::pair<uint64_t, std::string>& at) {
  if (auto it = st.members.find(at); it != st.members.end()) return std::optional<std::string>(it->second);
  if (!st.registers || at.first != st.reg_version || st.deleted.contains(at)) {
    return std::optional<std::string>();
  }
  auto read = Fetch(db, key, st, at.second);
  if (!read.ok()) return read.status();
  if (*read == nullptr) return std::optional<std::string>();
  return SingleNodeValue(st.reg_type, (*read)->merged);
}

absl::Status KeySnapshot::GetMember(int db, std::string_view key, uint64_t version,
                                    std::string_view member, std::string* value) {
  auto st = State(db, key);
  if (!st.ok()) return st.status();
  auto cur = Current(db, key, **st, {version, std::string(member)});
  if (!cur.ok()) return cur.status();
  if (!cur->has_value()) return absl::NotFoundError("");
  *value = std::move(**cur);
  return absl::OkStatus();
}

absl::Status KeySnapshot::ScanMembers(
    int db, std::string_view key, uint64_t version, std::string_view start, std::string_view end,
    bool reverse, absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) {
  auto st = State(db, key);
  if (!st.ok()) return st.status();
  const auto& members = (*st)->members;
  if (!end.empty() && start >= end) return absl::OkStatus();
  auto first = members.lower_bound({version, std::string(start)});
  auto last = !end.empty() ? members.lower_bound({version, std::string(end)})
               : version == UINT64_MAX ? members.end()
                                       : members.lower_bound({version + 1, ""});
  if ((*st)->registers && version == (*st)->reg_version) {
    return ScanRegisterMembers(db, key, **st, start, end, reverse, first, last, fn);
  }
  if (reverse) {
    for (auto it = last; it != first;) {
      --it;
      if (!fn(it->first.second, it->second)) break;
    }
  } else {
    for (auto it = first; it != last; ++it) {
      if (!fn(it->first.second, it->second)) break;
    }
  }
  return absl::OkStatus();
}

absl::Status KeySnapshot::ScanRegisterMembers(
    int db, std::string_view key, KeyState& st, std::string_view start, std::string_view end,
    bool reverse, MemberMap::const_iterator first, MemberMap::const_iterator last,
    absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) {
  // The members the commands wrote (first..last, in order) override this replica's
  // registers; those they deleted are skipped.
  bool stopped = false;
  auto o = reverse ? last : first;
  const auto overlay_before = [&](std::string_view m) {  // emit overlay entries ahead of m
    while (!stopped && (reverse ? o != first : o != last)) {
      auto cur = reverse ? std::prev(o) : o;
      const std::string& name = cur->first.second;
      if (reverse ? !(name > m) : !(name < m)) break;
      if (!fn(name, cur->second)) stopped = true;
      reverse ? --o : ++o;
    }
  };
  const auto visit = [&](std::string_view m, std::string_view value) {
    overlay_before(m);
    if (stopped) return false;
    if (reverse ? o != first : o != last) {
      auto cur = reverse ? std::prev(o) : o;
      if (cur->first.second == m) {
        reverse ? --o : ++o;
        if (!fn(m, cur->second)) stopped = true;
        return !stopped;
      }
    }
    if (st.deleted.contains({st.reg_version, std::string(m)})) return true;
    if (!fn(m, value)) stopped = true;
    return !stopped;
  };
  if (st.reg_type != 'z') {
    CAIRN_RETURN_IF_ERROR(source_->ScanLocal(db, st.reg_type, key, start, end, reverse, visit));
  } else {
    // A sorted set's members in the single-node form: 'm' member -> score, then
    // 's' score member -> "" (the index), each part a range of the replica's own.
    const auto part = [&](char tag) -> absl::Status {
      const std::string tag_s(1, tag), next(1, static_cast<char>(tag + 1));
      const std::string from = std::string(start) > tag_s ? std::string(start) : tag_s;
      const std::string to = !end.empty() && std::string(end) < next ? std::string(end) : next;
      if (from >= to) return absl::OkStatus();
      const std::string_view a = std::string_view(from).substr(1), b = std::string_view(to).substr(1);
      const std::string b_s = to == next ? std::string() : std::string(b);
      if (tag == store::kZSetByMember) {
        return source_->ScanLocal(db, 'z', key, a, b_s, reverse, [&](std::string_view m, std::string_view v) {
          long double score;
          if (!ParseLongDouble(v, &score)) return true;  // not a number: not a member here
          return visit(tag_s + std::string(m), store::EncodeScore(static_cast<double>(score)));
        });
      }
      return source_->ScanLocalScores(db, key, a, b_s, reverse,
                                      [&](std::string_view sm) { return visit(tag_s + std::string(sm), ""); });
    };
    for (char tag : reverse ? std::string{store::kZSetByScore, store::kZSetByMember}
                            : std::string{store::kZSetByMember, store::kZSetByScore}) {
      if (stopped) break;
      CAIRN_RETURN_IF_ERROR(part(tag));
    }
  }
  if (!stopped) {  // what is left of the overlay
    while (reverse ? o != first : o != last) {
      auto cur = reverse ? std::prev(o) : o;
      if (!fn(cur->first.second, cur->second)) break;
      reverse ? --o : ++o;
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::server
