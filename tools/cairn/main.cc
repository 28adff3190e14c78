// cairn: the command-line client. `cairn db DIR ...` works on a data directory offline;
// `cairn cluster status` asks a running cluster.
#include <CLI/CLI.hpp>

#include "backup_command.h"
#include "base/process.h"
#include "cluster_command.h"
#include "db_command.h"

int main(int argc, char** argv) {
  cairn::InitProcess();
  CLI::App app{"cairn: command-line tool for the cairn key-value store"};
  app.require_subcommand(1);
  cairn::tools::AddDbCommand(&app);
  CLI::App* backup = cairn::tools::AddBackupCommand(&app);
  CLI::App* cluster = cairn::tools::AddClusterCommand(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help with exit code 0 and usage errors with a non-zero one.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (cluster->parsed()) return cairn::tools::RunClusterCommand();
  if (backup->parsed()) return cairn::tools::RunBackupCommand();
  return cairn::tools::RunDbCommand();
}
