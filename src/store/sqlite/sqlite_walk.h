// The SQLite store's walk network writes, called inside UpsertPois' write transaction so that
// the network commits with the POIs of its file. Internal to src/store/sqlite.
#pragma once

#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace nbi {

// Upserts the nodes (by id) and inserts the new edges of `network` (already checked:
// CheckWalkNetwork); adds the rows it inserted to `sum`.
Status SqliteUpsertWalkNetwork(SqliteConn& c, const WalkNetwork& network, PoiImportSummary* sum);

}  // namespace nbi
