// KeySnapshot: the keys of one hash tag of the cluster (any type) held in memory as a
// store::Backend, so the single-node command implementations run on them unchanged
// (docs/cluster.md, "Data types"). The replica that executes a command (or a MULTI/EXEC
// of one tag) loads each key it touches, lazily, as the merge of the key's versions
// (cluster/type_merge.h), runs the commands, and replicates each key they changed as
// the key's next version, written with the context it was read in.
//
// Replicated form (pb::Record of a key):
//   string:      type 's', value = the string; with a pb::Counter when increment
//                commands wrote it (cluster/counter.h)
//   collection:  type 'h'|'l'|'t'|'z'|'x', value = a serialized pb::CollectionState: the
//                collection's metadata (store/collection.h) and its members in order;
//                or, for hashes, sets, sorted sets and streams with a register source,
//                a header whose members are registers (cluster/registers.h), so a
//                change sends only the members it touched. Lists travel whole.
// Inline hashes, sets and sorted sets carry each member's dot (pb::CollectionState.dots),
// so concurrent versions merge member by member (cluster/type_merge.h).
//
// Thread-compatible: one command (or transaction) on one thread.
#ifndef CAIRN_SERVER_KEY_SNAPSHOT_H_
#define CAIRN_SERVER_KEY_SNAPSHOT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

#include "cluster/cluster.pb.h"
#include "cluster/vector_clock.h"
#include "store/backend.h"

namespace cairn::server {

// The type of a replicated version: "string", "hash", "list", "set", "zset" ("none" for
// a type this server does not know).
std::string_view ReplicatedTypeName(const cluster::pb::Record& record);

// The register type (cluster/registers.h) of a key's record: a collection header's type
// ('h', 't', 'z', 'x'), 'b' for a chunked string; 0 for a value kept whole.
char RegisterTypeOf(const cluster::pb::Record& record);

// Where the members of collections kept as registers (cluster/registers.h) come from.
class RegisterSource {
 public:
  virtual ~RegisterSource() = default;
  struct Read {
    std::optional<cluster::pb::Record> merged;  // nullopt: absent or deleted
    cluster::Clock context;                     // what a write of it supersedes
    std::optional<cluster::pb::Counter> history;  // its counters, deleted ones included
  };
  // Brings this replica's registers of the collection up to date with R replicas' (a
  // collection read at R sees every acknowledged member). Cheap when they agree: their
  // digests are compared first.
  virtual absl::Status Sync(int db, char type, std::string_view key) = 0;
  // One register (db: the collection's database), as reads serve it.
  virtual absl::StatusOr<Read> ReadRegister(int db, std::string_view register_key) = 0;
  // This replica's live members of the collection.
  virtual absl::StatusOr<uint64_t> LocalCount(int db, char type, std::string_view key) = 0;
  // This replica's live members in [start, end) (end empty: to the last), with values.
  virtual absl::Status ScanLocal(
      int db, char type, std::string_view key, std::string_view start, std::string_view end,
      bool reverse, absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) = 0;
  // A sorted set's members by score (score bytes | member) in [start, end).
  virtual absl::Status ScanLocalScores(int db, std::string_view key, std::string_view start,
                                       std::string_view end, bool reverse,
                                       absl::FunctionRef<bool(std::string_view)> fn) = 0;
};

class KeySnapshot final : public store::Backend {
 public:
  // A key as the loader read it: its value (the merge of its versions; nullopt: absent)
  // and the context a write of it carries (the merged clock of every version read).
  struct Loaded {
    std::optional<cluster::pb::Record> record;
    cluster::Clock context;
    // The merge of every counter among the key's versions, tombstones and expired ones
    // included: an increment of a deleted or expired counter continues its nodes' counts
    // (counter.h) instead of starting them again.
    std::optional<cluster::pb::Counter> counter_history;
  };
  using Loader = std::function<absl::StatusOr<Loaded>(int db, std::string_view key)>;

  // The keys of db whose hash tag (cluster/ring.h) is that of `key`; any other key is
  // refused with CROSSSLOT, not silently dropped. now_ms: the commands' clock (expiry).
  // loader: reads a key the first time a command touches it; null: keys start absent
  // unless Load()ed.
  KeySnapshot(int db, std::string_view key, int64_t now_ms, Loader loader = nullptr);

  // Keys of the same hash tag in database `db` may be used too (MOVE's destination).
  void AllowDb(int db) { other_dbs_.insert(db); }
  // Collections whose header says their members are registers read them from source
  // (null: such a collection is refused as corrupt). Hashes, sets and sorted sets the
  // commands write are exported as registers (ExportRegisters).
  void set_register_source(RegisterSource* source) { source_ = source; }

  // Loads a key's value (a live one: not a tombstone; expired ones read as absent).
  absl::Status Load(int db, std::string_view key, const cluster::pb::Record& record);
  absl::Status Load(std::string_view key, const cluster::pb::Record& record) {
    return Load(db_, key, record);
  }
  // Single-key form for the key the snapshot was made with.
  absl::Status Load(const cluster::pb::Record& record) { return Load(first_key_, record); }

  // Commands that run from now on add to numbers (kCounter) for `node`: a key that only
  // such commands wrote is exported as node's contribution to a counter
  // (cluster/counter.h). Empty: plain writes.
  void set_counter_node(std::string node) { counter_node_ = std::move(node); }
  // Commands that run from now on change only expiries (kExpiryOnly): a counter they
  // rewrite stays a counter.
  void set_expiry_only(bool expiry_only) { expiry_only_ = expiry_only; }
  // Commands that run from now on change strings in place (kInPlace): a string they
  // leave longer than cluster::kChunkBytes is exported chunked (pb::Record.chunked), its
  // changed chunks as registers; one another command rewrites is exported whole.
  void set_in_place(bool in_place) { in_place_ = in_place; }

  // The keys a command wrote (database, key), in order.
  std::vector<std::pair<int, std::string>> ChangedKeys() const;
  bool changed() const { return !ChangedKeys().empty(); }
  // A key as a record to replicate; nullopt if the commands deleted it (or it expired).
  // Members keep the dot they were loaded with; members the commands wrote have none
  // (they take the new version's dot).
  absl::StatusOr<std::optional<cluster::pb::Record>> Export(int db, std::string_view key) const;
  absl::StatusOr<std::optional<cluster::pb::Record>> Export(std::string_view key) const {
    return Export(db_, key);
  }
  absl::StatusOr<std::optional<cluster::pb::Record>> Export() const { return Export(first_key_); }
  // The registers to write for a key the commands changed (a hash, set, sorted set or
  // stream, a chunked string, or a key that was one), before its header (Export): each
  // register's key, its new value
  // (nullopt: a tombstone), and the context it was read in (null: supersede what the
  // executing replica holds).
  struct RegisterWrite {
    std::string register_key;
    cluster::pb::Record record;  // a value (with a counter if increments wrote it) or a tombstone
    std::optional<cluster::Clock> context;
  };
  absl::StatusOr<std::vector<RegisterWrite>> ExportRegisters(int db, std::string_view key);

  // The counter a tombstone of the key carries when the commands deleted it: a reset of
  // the counter it held (counter.h); nullopt if it held none.
  std::optional<cluster::pb::Counter> DeletionCounter(int db, std::string_view key) const;
  // Whether a key was live when loaded, and the context its write carries. Loads it.
  absl::StatusOr<bool> WasLive(int db, std::string_view key);
  absl::StatusOr<cluster::Clock> ContextOf(int db, std::string_view key);
  absl::StatusOr<cluster::Clock> ContextOf(std::string_view key) { return ContextOf(db_, key); }
  // The first error the loader returned (commands then saw it as an error): a run that
  // met one must reply it and write nothing.
  const absl::Status& load_error() const { return load_error_; }

  absl::Status Get(int db, std::string_view key, store::Record* record) override;
  absl::Status Put(int db, std::string_view key, const store::Record& record,
                   const store::WriteOptions& options) override;
  absl::Status Delete(int db, std::string_view key, const store::WriteOptions& options) override;
  absl::Status Apply(const std::vector<store::Mutation>& batch,
                     const store::WriteOptions& options) override;
  absl::Status Scan(int db, std::string_view start, std::string_view end,
                    absl::FunctionRef<bool(std::string_view key, const store::RecordView& record)> fn) override;
  absl::Status Clear(int db) override;
  absl::Status GetMember(int db, std::string_view key, uint64_t version, std::string_view member,
                         std::string* value) override;
  absl::Status ScanMembers(int db, std::string_view key, uint64_t version, std::string_view start,
                           std::string_view end, bool reverse,
                           absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) override;
  // Above every version loaded so far, and unique across snapshots (the command's
  // milliseconds and a process-wide sequence): a key loaded after this call (a *STORE's
  // destination) cannot hold members of the version handed out.
  uint64_t NewVersion() override;
  absl::Status SwapDb(int a, int b) override;
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status FlushWrites() override { return absl::OkStatus(); }
  absl::Status BackgroundError() override { return absl::OkStatus(); }
  std::optional<std::string> Property(std::string_view name) override { return std::nullopt; }

 private:
  struct KeyState {
    std::optional<cluster::pb::Record> loaded;  // as loaded (live, not expired)
    cluster::Clock context;
    std::optional<store::Record> record;
    std::map<std::pair<uint64_t, std::string>, std::string> members;  // (version, member)
    // The dot of each loaded member the commands have not written since.
    std::map<std::pair<uint64_t, std::string>, cluster::pb::ClockEntry> dots;
    // Members' counters (HINCRBY, ZINCRBY; pb::CollectionState.counters) as loaded.
    std::map<std::pair<uint64_t, std::string>, cluster::pb::Counter> counters;
    // Members increment commands wrote: their value before the first such write (nullopt:
    // absent) and the node of the increments; and members other commands wrote.
    struct Incremented {
      std::optional<std::string> before;  // nullopt: absent
      uint64_t set_at = 0;                // hybrid timestamp of the write that set it
    };
    std::map<std::pair<uint64_t, std::string>, Incremented> incremented;
    std::set<std::pair<uint64_t, std::string>> rewritten;
    std::optional<cluster::pb::Counter> counter_history;  // Loaded::counter_history
    // A collection kept as registers (loaded with a registers header): the members of
    // version reg_version are registers, read on first use; members holds only what the
    // commands wrote, deleted what they removed.
    bool registers = false;
    char reg_type = 0;
    uint64_t reg_version = 0;
    std::set<std::pair<uint64_t, std::string>> deleted;
    std::map<std::string, RegisterSource::Read, std::less<>> fetched;  // by register member
    // A chunked string (pb::Record.chunked): its chunks as this replica held them when
    // loaded (after the sync at R); in_place: in-place commands wrote it last (or it was
    // loaded chunked and nothing rewrote it since).
    bool chunked = false;
    uint64_t chunk_generation = 0;  // the loaded header's
    std::map<uint64_t, std::string> chunks;
    bool in_place = false;
    // The commands deleted or rewrote the string (or it had expired): one they write now
    // is a new string, with a new generation of chunks.
    bool chunks_replaced = false;
    mutable uint64_t new_chunk_generation = 0;  // ChunkGeneration's, once picked
    bool changed = false;
    bool plain_write = false;  // a command other than an increment changed its value
    std::string counter_node;  // the node of its increments
  };
  // Adds the counter of member `at` (value: its exported value) to state, if it has one.
  absl::Status ExportMemberCounter(const KeyState& st, store::ValueType type,
                                   const std::pair<uint64_t, std::string>& at,
                                   const std::string& value,
                                   cluster::pb::CollectionState* state) const;
  // The key's state, loading it on first use; CROSSSLOT for another tag or a database
  // not allowed.
  absl::StatusOr<KeyState*> State(int db, std::string_view key);
  void Bump(uint64_t version) { last_version_ = std::max(last_version_, version); }
  uint64_t MinCount() const;
  bool Expired(const store::Record& r) const { return r.expire_at_ms != 0 && r.expire_at_ms <= now_ms_; }

  const int db_;
  const std::string first_key_;
  const std::string tag_;
  const int64_t now_ms_;
  const Loader loader_;
  std::string counter_node_;
  bool expiry_only_ = false;
  bool in_place_ = false;
  // Whether the key's value is exported chunked.
  bool ChunkedNow(const KeyState& st) const;
  // The generation its chunks are exported under: the loaded one for the same string,
  // else a new one (picked once per key and run).
  uint64_t ChunkGeneration(const KeyState& st) const;
  // The member registers of a collection kept as registers (ExportRegisters' first part).
  absl::Status ExportMemberRegisters(int db, std::string_view key, KeyState& st,
                                     std::vector<RegisterWrite>* out);
  // The chunk registers of a string that is or was chunked: the chunks that differ from
  // those loaded (or, for a new chunked string, from those this replica holds), and
  // tombstones for chunks past its end (all of them when it is no longer chunked).
  absl::Status ExportChunks(int db, std::string_view key, KeyState& st, std::vector<RegisterWrite>* out);
  using KeyMap = std::map<std::string, KeyState, std::less<>>;
  KeyMap& KeysOf(int db) { return keys_[db]; }
  const KeyMap* FindDb(int db) const {
    auto it = keys_.find(db);
    return it == keys_.end() ? nullptr : &it->second;
  }
  std::map<int, KeyMap> keys_;  // by database
  std::set<int> other_dbs_;     // AllowDb
  RegisterSource* source_ = nullptr;
  using MemberMap = std::map<std::pair<uint64_t, std::string>, std::string>;
  // ScanMembers of a registers collection's own version: this replica's registers with
  // the members the commands wrote (first..last) over them.
  absl::Status ScanRegisterMembers(
      int db, std::string_view key, KeyState& st, std::string_view start, std::string_view end,
      bool reverse, MemberMap::const_iterator first, MemberMap::const_iterator last,
      absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn);
  // The register of member `member` (single-node name) of a registers collection, read
  // on first use; nullptr when the member is not one (a sorted set's score entry).
  absl::StatusOr<const RegisterSource::Read*> Fetch(int db, std::string_view key, KeyState& st,
                                                    std::string_view member);
  // The member's current value in single-node form (nullopt: absent).
  absl::StatusOr<std::optional<std::string>> Current(int db, std::string_view key, KeyState& st,
                                                     const std::pair<uint64_t, std::string>& at);
  std::set<uint64_t> handed_out_;  // by NewVersion
  absl::Status load_error_;
  uint64_t last_version_ = 0;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_KEY_SNAPSHOT_H_
