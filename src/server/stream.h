// Streams as DUMP and RESTORE move them (commands_dump.cc): a whole stream between
// cairn's layout (commands_stream.cc) and its Redis form (rdb_payload.h).
#ifndef CAIRN_SERVER_STREAM_H_
#define CAIRN_SERVER_STREAM_H_

#include "server/collections.h"
#include "server/rdb_payload.h"

namespace cairn::server {

// Reads stream s (loaded, existing) into *out: entries, IDs, groups with their pending
// entries and consumers. False after replying with the error (storage, corruption).
bool ExportStream(CommandContext& c, const Collection& s, RdbStream* out);

// Adds in's entries, groups, pending entries and consumers to batch as members of s (a
// stream batch.Create just made) and sets s's metadata; the caller saves it (SaveMeta).
void ImportStream(CollectionBatch& batch, Collection* s, const RdbStream& in);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_STREAM_H_
