// `cairn backup create|list|verify|restore|purge` (docs/backup.md), and the cluster's
// `cairn cluster backup|restore`.
#ifndef CAIRN_TOOLS_CAIRN_BACKUP_COMMAND_H_
#define CAIRN_TOOLS_CAIRN_BACKUP_COMMAND_H_

#include <CLI/CLI.hpp>

namespace cairn::tools {

// Adds the `backup` subcommand to app; returns it (parsed() says whether it was chosen).
CLI::App* AddBackupCommand(CLI::App* app);
// Runs it; returns the process exit code (0 ok, 1 a backup failed verification, 2 error).
int RunBackupCommand();

// Adds `backup` and `restore` to the `cluster` subcommand.
void AddClusterBackupCommands(CLI::App* cluster);
// Runs one of them if it was chosen: true and *code set; false otherwise.
bool RunClusterBackupCommands(int* code);

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_BACKUP_COMMAND_H_
