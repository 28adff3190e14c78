// Transactions (Redis 7 semantics): MULTI EXEC DISCARD WATCH UNWATCH.
//
// MULTI queues the client's commands (ExecuteCommand answers QUEUED, or an error that
// dooms the transaction); EXEC runs them one after another while holding every key
// stripe, so no other client's write or collection read interleaves with them. WATCH
// makes EXEC answer nil if a watched key was written, or expired, since.
#include "server/command.h"

namespace cairn::server {
namespace {

void Multi(CommandContext& c) {
  if (c.client.in_multi) return c.out.Error("ERR MULTI calls can not be nested");
  c.client.in_multi = true;
  c.client.multi_error = false;
  c.client.queued.clear();
  c.out.SimpleString("OK");
}

void EndMulti(CommandContext& c) {
  c.client.in_multi = false;
  c.client.multi_error = false;
  c.client.queued.clear();
  c.server.watches.UnwatchAll(&c.client);
}

void Discard(CommandContext& c) {
  if (!c.client.in_multi) return c.out.Error("ERR DISCARD without MULTI");
  EndMulti(c);
  c.out.SimpleString("OK");
}

// True if a key that had an expiry when watched has reached it: Redis 7 aborts EXEC then
// even though no command wrote the key.
bool WatchedKeyExpired(const CommandContext& c) {
  for (const auto& w : c.client.watched) {
    if (w.expire_at_ms > 0 && w.expire_at_ms <= c.now_ms) return true;
  }
  return false;
}

void Exec(CommandContext& c) {
  if (!c.client.in_multi) return c.out.Error("ERR EXEC without MULTI");
  std::vector<std::vector<std::string>> queued = std::move(c.client.queued);
  const bool doomed = c.client.multi_error;
  if (doomed) {
    EndMulti(c);
    return c.out.Error("EXECABORT Transaction discarded because of previous errors.");
  }
  // Writers touch watched keys under their stripes: with every stripe held, no write can
  // land between this check and the queued commands.
  KeyLocks::Guard all(&c.server.locks);
  const bool dirty = c.client.watch_dirty.load() || WatchedKeyExpired(c);
  EndMulti(c);
  if (dirty) return c.out.NullArray();
  c.client.in_exec = true;
  c.client.execs++;
  c.out.ArrayHeader(queued.size());
  std::vector<std::string_view> args;
  for (const auto& command : queued) {
    args.assign(command.begin(), command.end());
    ExecuteCommand(c.server, c.client, args, c.out);
  }
  c.client.in_exec = false;
}

void Watch(CommandContext& c) {
  if (c.client.in_multi) return c.out.Error("ERR WATCH inside MULTI is not allowed");
  const int db = c.client.db.load(std::memory_order_relaxed);
  for (size_t i = 1; i < c.args.size(); i++) {
    store::Record r;
    absl::Status s = c.server.backend->Get(db, c.args[i], &r);
    if (!s.ok() && !absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
    c.server.watches.Watch(&c.client, db, c.args[i]);
    c.client.watched.push_back({db, std::string(c.args[i]), s.ok() ? r.expire_at_ms : 0});
  }
  c.out.SimpleString("OK");
}

void Unwatch(CommandContext& c) {
  c.server.watches.UnwatchAll(&c.client);
  c.out.SimpleString("OK");
}

const CommandSpec kCommands[] = {
    {"multi", 1, kNoScript | kFast | kNoLock, 0, 0, 0, Multi, "transactions", "Starts a transaction."},
    {"exec", 1, kNoScript | kNoLock, 0, 0, 0, Exec, "transactions",
     "Executes all commands in a transaction."},
    {"discard", 1, kNoScript | kFast | kNoLock, 0, 0, 0, Discard, "transactions",
     "Discards a transaction."},
    {"watch", -2, kNoScript | kFast | kNoLock, 1, -1, 1, Watch, "transactions",
     "Monitors changes to keys to determine the execution of a transaction."},
    {"unwatch", 1, kNoScript | kFast | kNoLock, 0, 0, 0, Unwatch, "transactions",
     "Forgets about watched keys of a transaction."},
};

}  // namespace

void RegisterTransactionCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
