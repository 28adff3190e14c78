// `cairn db DIR ...`: open a data directory offline, like RocksDB's ldb.
#ifndef CAIRN_TOOLS_CAIRN_DB_COMMAND_H_
#define CAIRN_TOOLS_CAIRN_DB_COMMAND_H_

#include <CLI/CLI.hpp>

namespace cairn::tools {

// Adds the `db` subcommand to app. After app.parse, call RunDbCommand if it was chosen.
void AddDbCommand(CLI::App* app);
// Runs the parsed `db` subcommand; returns the process exit code.
int RunDbCommand();

// The value `load` writes for key index i (the crash test recomputes it).
std::string LoadValue(uint64_t i, size_t size);

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_DB_COMMAND_H_
