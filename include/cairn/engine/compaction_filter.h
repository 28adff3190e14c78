// Compaction filters: the application's say in what compaction keeps (RocksDB's
// CompactionFilter, reduced to the one decision cairn needs). The data-type layer uses
// one to reclaim the members of deleted collections: deleting a hash removes only its
// metadata key, and compaction later drops the member keys nothing points to.
#ifndef CAIRN_ENGINE_COMPACTION_FILTER_H_
#define CAIRN_ENGINE_COMPACTION_FILTER_H_

#include <memory>
#include <string_view>

namespace cairn::engine {

class CompactionFilter {
 public:
  virtual ~CompactionFilter() = default;
  // Called by compaction, in key order, for the newest version of each key that every
  // snapshot sees (a live value, not expired). True drops it: from then on the key reads
  // as deleted, as if a Delete had been written at that version. Only keys nobody will
  // read again may be dropped; older versions of the key stay hidden below.
  virtual bool Drop(std::string_view key, std::string_view value) = 0;
  // Called for each version of a key whose expiry is past (by more than
  // Options::expired_retention_micros), before compaction rewrites it as a deletion.
  // True keeps it as it is: readers still hide it, ReadOptions::include_expired still
  // finds it, and only a later write (the application's own delete) removes it. For
  // data whose removal the application must see, as LocalBackend's key counts do.
  virtual bool KeepExpired(std::string_view key) {
    (void)key;
    return false;
  }
};

class CompactionFilterFactory {
 public:
  virtual ~CompactionFilterFactory() = default;
  // A filter for one compaction, used by one thread; it may keep state (a cache of the
  // last lookup) from key to key.
  virtual std::unique_ptr<CompactionFilter> NewFilter() = 0;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_COMPACTION_FILTER_H_
