// Server commands: INFO, CONFIG (GET SET RESETSTAT), COMMAND (COUNT INFO DOCS), TIME,
// SHUTDOWN.
#include <unistd.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/fault_injection_env.h"
#include "base/status.h"
#include "server/backups.h"
#include "server/command.h"
#include "server/info.h"

namespace cairn::server {
namespace {

void Info(CommandContext& c) {
  std::vector<std::string> sections;
  for (size_t i = 1; i < c.args.size(); i++) sections.push_back(Lower(c.args[i]));
  c.out.Verbatim(InfoText(c.server, sections, c.now_ms));
}

void ConfigCmd(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "get" && c.args.size() >= 3) {
    std::vector<std::pair<std::string, std::string>> all;
    for (size_t i = 2; i < c.args.size(); i++) {
      for (auto& kv : c.server.config->Match(c.args[i])) {
        bool dup = false;
        for (const auto& seen : all) dup |= seen.first == kv.first;
        if (!dup) all.push_back(std::move(kv));
      }
    }
    c.out.MapHeader(all.size());
    for (const auto& [k, v] : all) {
      c.out.Bulk(k);
      c.out.Bulk(v);
    }
    return;
  }
  if (sub == "set" && c.args.size() >= 4 && c.args.size() % 2 == 0) {
    // All or nothing, as Redis 7: validate on a copy first.
    Config trial(c.server.config->Get());
    for (size_t i = 2; i + 1 < c.args.size(); i += 2) {
      absl::Status s = trial.Set(c.args[i], c.args[i + 1], /*at_runtime=*/true);
      if (absl::IsNotFound(s)) {
        return c.out.Error(
            absl::StrCat("ERR Unknown option or number of arguments for CONFIG SET - '",
                         std::string(c.args[i]), "'"));
      }
      if (!s.ok()) {
        return c.out.Error(absl::StrCat("ERR CONFIG SET failed (possibly related to argument '",
                                        Lower(c.args[i]), "') - ", s.message()));
      }
    }
    if (c.server.prepare_config) {
      std::vector<std::string> names;
      for (size_t i = 2; i + 1 < c.args.size(); i += 2) names.push_back(Lower(c.args[i]));
      std::string culprit;
      if (absl::Status s = c.server.prepare_config(trial.Get(), names, &culprit); !s.ok()) {
        return c.out.Error(absl::StrCat("ERR CONFIG SET failed (possibly related to argument '",
                                        culprit, "') - ", s.message()));
      }
    }
    for (size_t i = 2; i + 1 < c.args.size(); i += 2) {
      (void)c.server.config->Set(c.args[i], c.args[i + 1], true);
    }
    ApplyAclConfig(c.server);  // requirepass, users, acl-pubsub-default
    if (c.server.on_config_change) c.server.on_config_change();
    return c.out.SimpleString("OK");
  }
  if (sub == "resetstat" && c.args.size() == 2) {
    c.server.stats.Reset();
    return c.out.SimpleString("OK");
  }
  ReplyBadSubcommand(c);
}

std::vector<std::string> FlagNames(uint32_t flags) {
  std::vector<std::string> out;
  if (flags & kWrite) out.push_back("write");
  if (flags & kReadOnly) out.push_back("readonly");
  if (flags & kDenyOom) out.push_back("denyoom");
  if (flags & kAdmin) out.push_back("admin");
  if (flags & kNoAuth) out.push_back("no_auth");
  if (flags & kFast) out.push_back("fast");
  return out;
}

// COMMAND INFO's reply for one command (Redis 7 layout: name, arity, flags, first key,
// last key, step, ACL categories, tips, key specs, subcommands).
void CommandInfo(protocol::ReplyWriter& out, const CommandSpec& spec) {
  out.ArrayHeader(10);
  out.Bulk(spec.name);
  out.Integer(spec.arity);
  const auto flags = FlagNames(spec.flags);
  out.SetHeader(flags.size());
  for (const auto& f : flags) out.SimpleString(f);
  out.Integer(spec.first_key);
  out.Integer(spec.last_key);
  out.Integer(spec.step);
  // ACL categories: Redis's (acl_table.h), cairn's own for CAIRN.* commands.
  const int id = acl::CommandIdByName(spec.name);
  const uint32_t cats = id >= 0 ? acl::kCommandAcls[id].categories : 0;
  out.SetHeader(static_cast<size_t>(__builtin_popcount(cats)));
  for (int i = 0; i < acl::kCategoryCount; i++) {
    if (cats & (1u << i)) out.SimpleString(absl::StrCat("@", acl::kCategoryNames[i]));
  }
  out.SetHeader(0);
  out.ArrayHeader(0);
  out.ArrayHeader(0);
}

void CommandCmd(CommandContext& c) {
  const auto& table = CommandTable::Get();
  if (c.args.size() == 1) {
    c.out.ArrayHeader(table.all().size());
    for (const CommandSpec* spec : table.all()) CommandInfo(c.out, *spec);
    return;
  }
  const std::string sub = Lower(c.args[1]);
  if (sub == "count" && c.args.size() == 2)
    return c.out.Integer(static_cast<int64_t>(table.all().size()));
  if (sub == "info") {
    if (c.args.size() == 2) {
      c.out.ArrayHeader(table.all().size());
      for (const CommandSpec* spec : table.all()) CommandInfo(c.out, *spec);
      return;
    }
    c.out.ArrayHeader(c.args.size() - 2);
    for (size_t i = 2; i < c.args.size(); i++) {
      const CommandSpec* spec = table.Find(c.args[i]);
      spec ? CommandInfo(c.out, *spec) : c.out.NullArray();
    }
    return;
  }
  if (sub == "docs") {
    std::vector<const CommandSpec*> specs;
    if (c.args.size() == 2) {
      specs = table.all();
    } else {
      for (size_t i = 2; i < c.args.size(); i++) {
        if (const CommandSpec* spec = table.Find(c.args[i])) specs.push_back(spec);
      }
    }
    c.out.MapHeader(specs.size());
    for (const CommandSpec* spec : specs) {
      c.out.Bulk(spec->name);
      c.out.MapHeader(3);
      c.out.Bulk("summary");
      c.out.Bulk(spec->summary);
      c.out.Bulk("since");
      c.out.Bulk("1.0.0");
      c.out.Bulk("group");
      c.out.Bulk(spec->group);
    }
    return;
  }
  ReplyBadSubcommand(c);
}

void Time(CommandContext& c) {
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  c.out.ArrayHeader(2);
  c.out.Bulk(absl::StrCat(us / 1000000));
  c.out.Bulk(absl::StrCat(us % 1000000));
}

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the WAL is synced and the server stops;
// acknowledged writes are durable whatever the option (there is no snapshot to skip).
void Shutdown(CommandContext& c) {
  for (size_t i = 1; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "abort") return c.out.Error("ERR No shutdown in progress.");
    if (opt != "nosave" && opt != "save" && opt != "now" && opt != "force") {
      return c.out.Error(kErrSyntax);
    }
  }
  if (absl::Status s = c.server.backend->Sync(); !s.ok()) {
    return c.out.Error(
        absl::StrCat("ERR Errors trying to SHUTDOWN. Check logs. (", s.message(), ")"));
  }
  if (!c.server.request_shutdown) return c.out.Error("ERR shutdown is not available here");
  c.server.scripts->KillAll();  // a script running past busy-reply-threshold stops too
  c.client.close_after_reply = true;  // Redis closes the connection without a reply
  c.server.request_shutdown();
}

// SLOWLOG GET [count] | LEN | RESET | HELP
void Slowlog(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "get" && c.args.size() <= 3) {
    int64_t count = 10;
    if (c.args.size() == 3 && (!ParseInt64(c.args[2], &count) || count < -1)) {
      return c.out.Error("ERR count should be greater than or equal to -1");
    }
    const auto entries = c.server.slowlog.Get(count == -1 ? SIZE_MAX : static_cast<size_t>(count));
    c.out.ArrayHeader(entries.size());
    for (const auto& e : entries) {
      c.out.ArrayHeader(6);
      c.out.Integer(static_cast<int64_t>(e.id));
      c.out.Integer(e.unix_seconds);
      c.out.Integer(e.micros);
      c.out.BulkArray(e.args);
      c.out.Bulk(e.addr);
      c.out.Bulk(e.name);
    }
    return;
  }
  if (sub == "len" && c.args.size() == 2) return c.out.Integer(static_cast<int64_t>(c.server.slowlog.size()));
  if (sub == "reset" && c.args.size() == 2) {
    c.server.slowlog.Reset();
    return c.out.SimpleString("OK");
  }
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "GET [<count>]",
                            "LEN", "RESET", "HELP"});
  }
  ReplyBadSubcommand(c);
}

// LATENCY LATEST | HISTORY event | RESET [event ...] | DOCTOR | HELP
void Latency(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "latest" && c.args.size() == 2) {
    const auto latest = c.server.slowlog.LatencyLatest();
    c.out.ArrayHeader(latest.size());
    for (const auto& l : latest) {
      c.out.ArrayHeader(4);
      c.out.Bulk(l.event);
      c.out.Integer(l.latest.unix_seconds);
      c.out.Integer(l.latest.ms);
      c.out.Integer(l.max_ms);
    }
    return;
  }
  if (sub == "history" && c.args.size() == 3) {
    const auto samples = c.server.slowlog.LatencyHistory(c.args[2]);
    c.out.ArrayHeader(samples.size());
    for (const auto& s : samples) {
      c.out.ArrayHeader(2);
      c.out.Integer(s.unix_seconds);
      c.out.Integer(s.ms);
    }
    return;
  }
  if (sub == "reset") {
    std::vector<std::string_view> events(c.args.begin() + 2, c.args.end());
    return c.out.Integer(c.server.slowlog.LatencyReset(events));
  }
  if (sub == "doctor" && c.args.size() == 2) {
    const auto latest = c.server.slowlog.LatencyLatest();
    std::string text;
    if (c.server.config->latency_monitor_threshold() == 0) {
      text = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this cairn instance. You may "
             "use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it.\n";
    } else if (latest.empty()) {
      text = "Dave, no latency spike was observed during the lifetime of this cairn instance, not in the "
             "slightest bit.\n";
    } else {
      for (const auto& l : latest) {
        absl::StrAppend(&text, l.event, ": latest ", l.latest.ms, " ms, max ", l.max_ms, " ms. ");
      }
      text += "Commands slower than latency-monitor-threshold ran; SLOWLOG GET names them.\n";
    }
    return c.out.Verbatim(text);
  }
  if (sub == "histogram") {
    // LATENCY HISTOGRAM [command ...]: each command that ran (of those named; unknown
    // names are skipped, as in Redis), its calls and cumulative latency by powers of two.
    std::vector<const CommandStats*> chosen;
    for (const auto& s : c.server.stats.commands()) {
      if (s->calls.load(std::memory_order_relaxed) == 0) continue;
      bool named = c.args.size() == 2;
      for (size_t i = 2; i < c.args.size() && !named; i++) named = Lower(c.args[i]) == s->name;
      if (named) chosen.push_back(s.get());
    }
    std::sort(chosen.begin(), chosen.end(), [](const CommandStats* a, const CommandStats* b) { return a->name < b->name; });
    c.out.MapHeader(chosen.size());
    for (const CommandStats* s : chosen) {
      c.out.Bulk(s->name);
      c.out.MapHeader(2);
      c.out.Bulk("calls");
      c.out.Integer(static_cast<int64_t>(s->calls.load(std::memory_order_relaxed)));
      c.out.Bulk("histogram_usec");
      const auto cdf = s->micros.PowerOfTwoCumulative();
      c.out.MapHeader(cdf.size());
      for (const auto& [bound, count] : cdf) {
        c.out.Integer(static_cast<int64_t>(std::min<uint64_t>(bound, INT64_MAX)));
        c.out.Integer(static_cast<int64_t>(count));
      }
    }
    return;
  }
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "DOCTOR",
                            "HISTOGRAM [<command> ...]", "HISTORY <event>", "LATEST", "RESET [<event> ...]",
                            "HELP"});
  }
  ReplyBadSubcommand(c);
}

// LOLWUT [VERSION v]: no art, the version line (Redis's reply ends with it too).
// MONITOR: from now on the client is sent a line per command this node runs (monitor.h)
// until RESET or it closes. A second MONITOR is ignored without a reply, as in Redis.
void Monitor(CommandContext& c) {
  if (c.client.in_exec) return c.out.Error("ERR MONITOR isn't allowed for DENY BLOCKING client");
  if (!c.client.push) return c.out.Error("ERR MONITOR needs a RESP connection");  // HTTP, tests
  if (c.client.monitor.exchange(true)) return;
  c.server.monitors->Add(&c.client);
  c.out.SimpleString("OK");
}

void Lolwut(CommandContext& c) {
  for (size_t i = 1; i < c.args.size(); i++) {
    int64_t v;
    if (Lower(c.args[i]) != "version" || i + 1 >= c.args.size() || !ParseInt64(c.args[++i], &v)) {
      return c.out.Error(kErrSyntax);
    }
  }
  c.out.Verbatim("cairn ver. 0.1.0 (Redis 7.0.15 compatible)\n");
}

// DEBUG FAULT-INJECT <none|writes|short-writes|syncs|reads|creates>[,...] [pattern]: the
// engine's files whose path contains pattern fail as a sick disk would (ENOSPC, EIO) until
// DEBUG FAULT-INJECT none. For tests of read-only mode and recovery; allowed only when
// the server was started with enable-debug-command (Redis's rule for DEBUG).
}  // namespace

bool DebugCommandAllowed(CommandContext& c) {
  const std::string mode = c.server.config->Get().enable_debug_command;
  const bool local = absl::StartsWith(c.client.addr, "127.") || absl::StartsWith(c.client.addr, "[::1]");
  if (mode == "no" || (mode == "local" && !local) || c.server.fault_env == nullptr) {
    c.out.Error(
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
        "you can run it from a local connection, otherwise you need to set this option in the "
        "configuration file, and then restart the server.");
    return false;
  }
  return true;
}

namespace {

// C's atoi as glibc computes it, which Redis's DEBUG uses for its numbers: leading
// whitespace, a sign, digits up to the first other character; the result kept to an int
// (it wraps past 32 bits; nothing numeric is 0).
int Atoi(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  uint64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + static_cast<uint64_t>(s[i] - '0');
  if (negative) v = ~v + 1;
  return static_cast<int>(static_cast<uint32_t>(v));
}

void Debug(CommandContext& c) {
  if (!DebugCommandAllowed(c)) return;
  const std::string sub = Lower(c.args[1]);
  if (sub == "set-active-expire" && c.args.size() == 3) {
    c.server.active_expire.store(Atoi(c.args[2]) != 0);
    return c.out.SimpleString("OK");
  }
  if (sub == "set-active-expire") {
    return c.out.Error(absl::StrCat("ERR unknown subcommand or wrong number of arguments for '",
                                    std::string(c.args[1]).substr(0, 128), "'. Try DEBUG HELP."));
  }
  if (sub != "fault-inject" || c.args.size() < 3 || c.args.size() > 4) {
    return c.out.Error(absl::StrCat("ERR unknown subcommand '", std::string(c.args[1]).substr(0, 128),
                                    "'. Try DEBUG HELP."));
  }
  uint32_t faults = 0;
  for (absl::string_view kind : absl::StrSplit(Lower(c.args[2]), ',')) {
    if (kind == "none") continue;
    if (kind == "writes") {
      faults |= FaultInjectionEnv::kFailWrites;
    } else if (kind == "short-writes") {
      faults |= FaultInjectionEnv::kShortWrites;
    } else if (kind == "syncs") {
      faults |= FaultInjectionEnv::kFailSyncs;
    } else if (kind == "reads") {
      faults |= FaultInjectionEnv::kFailReads;
    } else if (kind == "creates") {
      faults |= FaultInjectionEnv::kFailCreates;
    } else {
      return c.out.Error(absl::StrCat("ERR unknown fault '", std::string(kind), "'"));
    }
  }
  c.server.fault_env->InjectFaults(faults, c.args.size() == 4 ? std::string(c.args[3]) : "");
  c.out.SimpleString("OK");
}

// SAVE, BGSAVE, LASTSAVE: a backup of the engine into backup-dir (docs/backup.md), with
// Redis's replies.
std::string BackupDir(const ServerConfig& cfg) {
  return cfg.backup_dir.empty() ? cfg.dir + "/backups" : cfg.backup_dir;
}

void Save(CommandContext& c) {
  if (c.server.backups == nullptr) return c.out.Error("ERR backups are not available here");
  auto info = c.server.backups->Save(BackupDir(c.server.config->Get()));
  if (absl::IsFailedPrecondition(info.status())) {
    return c.out.Error("ERR Background save already in progress");
  }
  // Redis answers a failed save with a bare "-ERR"; the reason helps more.
  if (!info.ok()) return c.out.Error(absl::StrCat("ERR ", info.status().message()));
  c.out.SimpleString("OK");
}

void Bgsave(CommandContext& c) {
  if (c.args.size() > 1 && !(c.args.size() == 2 && absl::EqualsIgnoreCase(ToAbsl(c.args[1]), "schedule"))) {
    return c.out.Error(kErrSyntax);
  }
  if (c.server.backups == nullptr) return c.out.Error("ERR backups are not available here");
  absl::Status st = c.server.backups->StartBackground(BackupDir(c.server.config->Get()));
  if (absl::IsFailedPrecondition(st)) {
    // Redis saves once after EXEC, however many BGSAVEs the transaction holds.
    if (c.client.in_exec && c.client.execs > 0 && c.client.bgsave_exec == c.client.execs) {
      return c.out.SimpleString("Background saving scheduled");
    }
    return c.out.Error("ERR Background save already in progress");
  }
  if (!st.ok()) return c.out.Error(absl::StrCat("ERR ", st.message()));
  if (c.client.in_exec) c.client.bgsave_exec = c.client.execs;
  // Inside EXEC Redis defers the save until after the transaction and says so.
  c.out.SimpleString(c.client.in_exec ? "Background saving scheduled" : "Background saving started");
}

void Lastsave(CommandContext& c) {
  if (c.server.backups == nullptr) return c.out.Integer(c.server.start_ms / 1000);
  c.out.Integer(c.server.backups->state().last_save_ms / 1000);
}

const CommandSpec kCommands[] = {
    {"save", 1, kAdmin | kNoLock | kNoScript | kNoMulti, 0, 0, 0, Save, "server",
     "Synchronously saves the database(s) to disk (a backup into backup-dir)."},
    {"bgsave", -1, kAdmin | kNoLock | kNoScript, 0, 0, 0, Bgsave, "server",
     "Asynchronously saves the database(s) to disk (a backup into backup-dir)."},
    {"lastsave", 1, kFast | kNoLock, 0, 0, 0, Lastsave, "server",
     "Returns the Unix timestamp of the last successful save to disk."},
    {"debug", -2, kAdmin | kNoLock, 0, 0, 0, Debug, "server",
     "FAULT-INJECT: make the engine's disk fail; SET-ACTIVE-EXPIRE 0|1: pause or resume active "
     "expiry (tests only; enable-debug-command)."},
    {"info", -1, 0, 0, 0, 0, Info, "server",
     "Returns information and statistics about the server."},
    {"config", -2, kAdmin | kContainer, 0, 0, 0, ConfigCmd, "server",
     "GET, SET and RESETSTAT of configuration."},
    {"command", -1, kContainer, 0, 0, 0, CommandCmd, "server",
     "Returns detailed information about commands."},
    {"time", 1, kFast | kPure, 0, 0, 0, Time, "server", "Returns the server time."},
    {"slowlog", -2, kAdmin | kContainer, 0, 0, 0, Slowlog, "server",
     "A container for slow log commands (GET, LEN, RESET)."},
    {"latency", -2, kAdmin | kContainer, 0, 0, 0, Latency, "server",
     "A container for latency diagnostics commands (LATEST, HISTORY, RESET, DOCTOR)."},
    {"lolwut", -1, kReadOnly | kFast | kPure, 0, 0, 0, Lolwut, "server",
     "Displays computer art and the Redis version"},
    {"monitor", 1, kAdmin | kNoScript, 0, 0, 0, Monitor, "server",
     "Listens for all requests received by the server in real-time."},
    {"shutdown", -1, kAdmin | kNoLock | kNoScript, 0, 0, 0, Shutdown, "server",
     "Syncs the WAL, then shuts down the server."},
};

}  // namespace

void RegisterServerCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
