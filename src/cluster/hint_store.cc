#include "cluster/hint_store.h"

#include "base/status.h"
#include "cairn/engine/write_batch.h"

namespace cairn::cluster {

std::string HintStore::Prefix(const std::string& target) {
  std::string p(1, 'H');
  p.append(target);
  p.push_back('\0');
  return p;
}

absl::Status HintStore::Open() {
  std::map<std::string, uint64_t> counts;
  auto it = db_->NewIterator({});
  for (it->Seek("H"); it->Valid() && it->key().starts_with("H"); it->Next()) {
    const std::string_view k = it->key();
    const size_t nul = k.find('\0', 1);
    if (nul == std::string_view::npos) return CorruptionError("hint key without a target");
    counts[std::string(k.substr(1, nul - 1))]++;
  }
  CAIRN_RETURN_IF_ERROR(it->status());
  absl::MutexLock l(&mu_);
  backlog_ = std::move(counts);
  return absl::OkStatus();
}

absl::Status HintStore::Add(const pb::Hint& hint) {
  if (hint.target().find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("hint target contains NUL");
  }
  std::string key = Prefix(hint.target());
  // Oldest first by the clock; the nonce (random per process, then counting) keeps two
  // hints apart even if a restarted node's clock repeats a timestamp.
  const uint64_t seq = clock_->Now();
  const uint64_t nonce = nonce_++;
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(seq >> shift));
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(nonce >> shift));
  engine::WriteBatch batch;
  batch.Put(key, hint.SerializeAsString());
  engine::WriteOptions options;
  options.sync = sync_;
  CAIRN_RETURN_IF_ERROR(db_->Write(options, batch));
  stored_++;
  absl::MutexLock l(&mu_);
  backlog_[hint.target()]++;
  return absl::OkStatus();
}

absl::Status HintStore::Pending(const std::string& target, size_t limit,
                                std::vector<std::pair<std::string, pb::Hint>>* out) {
  out->clear();
  const std::string prefix = Prefix(target);
  auto it = db_->NewIterator({});
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out->size() < limit;
       it->Next()) {
    pb::Hint h;
    if (!h.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return CorruptionError("hint does not parse");
    }
    out->emplace_back(std::string(it->key()), std::move(h));
  }
  return it->status();
}

absl::Status HintStore::Remove(const std::string& target, const std::string& hint_key) {
  engine::WriteBatch batch;
  batch.Delete(hint_key);
  engine::WriteOptions options;
  options.sync = sync_;
  CAIRN_RETURN_IF_ERROR(db_->Write(options, batch));
  absl::MutexLock l(&mu_);
  auto it = backlog_.find(target);
  if (it != backlog_.end() && --it->second == 0) backlog_.erase(it);
  return absl::OkStatus();
}

absl::Status HintStore::RemoveDb(int db) {
  std::vector<std::pair<std::string, std::string>> doomed;  // (target, hint key)
  auto it = db_->NewIterator({});
  for (it->Seek("H"); it->Valid() && it->key().starts_with("H"); it->Next()) {
    pb::Hint h;
    if (!h.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return CorruptionError("hint does not parse");
    }
    if (db < 0 || h.db() == db) doomed.emplace_back(h.target(), std::string(it->key()));
  }
  CAIRN_RETURN_IF_ERROR(it->status());
  for (const auto& [target, key] : doomed) CAIRN_RETURN_IF_ERROR(Remove(target, key));
  return absl::OkStatus();
}

std::map<std::string, uint64_t> HintStore::Backlog() const {
  absl::MutexLock l(&mu_);
  return backlog_;
}

uint64_t HintStore::backlog() const {
  absl::MutexLock l(&mu_);
  uint64_t n = 0;
  for (const auto& [target, count] : backlog_) n += count;
  return n;
}

}  // namespace cairn::cluster
