// The SQLite store's walk network writes, called inside UpsertPois' write transaction so that
// the network commits with the POIs of its file. Internal to src/store/sqlite.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace nbi {

// Upserts the nodes (by id) and inserts the new edges of `network` (already checked:
// CheckWalkNetwork); adds the rows it inserted to `sum`.
Status SqliteUpsertWalkNetwork(SqliteConn& c, const WalkNetwork& network, PoiImportSummary* sum);

// Deletes the edges `edges`, then every edge touching one of `nodes` (their ends' positions
// into sum->cascaded_edge_ends) and the nodes; counts into `sum`.
// Replaces the stored node lists of `ways` and forgets `deletes` (store.h PoiWrite::ways).
Status SqliteWriteOsmWays(SqliteConn& c, const std::vector<OsmWayNodes>& ways,
                          const std::vector<int64_t>& deletes);
Status SqliteDeleteWalkRows(SqliteConn& c, const std::vector<int64_t>& nodes,
                            const std::vector<std::pair<int64_t, int64_t>>& edges,
                            PoiImportSummary* sum);

}  // namespace nbi
