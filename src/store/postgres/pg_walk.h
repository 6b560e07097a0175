// The PostgreSQL store's walk network writes, called inside UpsertPois' transaction so that
// the network commits with the POIs of its file. Internal to src/store/postgres.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "store/postgres/pg_conn.h"
#include "store/store.h"

namespace nbi {

// Upserts the nodes (by id) and inserts the new edges of `network` (already checked:
// CheckWalkNetwork) in `c`'s open transaction; adds the rows it inserted to `sum`. The
// staging tables must exist (kCreateWalkStage, created outside the transaction).
Status PgUpsertWalkNetwork(PgConn& c, const WalkNetwork& network, PoiImportSummary* sum);

// Deletes the edges `edges`, then every edge touching one of `nodes` (their ends' positions
// into sum->cascaded_edge_ends) and the nodes, in `c`'s open transaction; counts into `sum`.
// Replaces the stored node lists of `ways` and forgets `deletes` (store.h PoiWrite::ways).
Status PgWriteOsmWays(PgConn& c, const std::vector<OsmWayNodes>& ways,
                      const std::vector<int64_t>& deletes);
Status PgDeleteWalkRows(PgConn& c, const std::vector<int64_t>& nodes,
                        const std::vector<std::pair<int64_t, int64_t>>& edges,
                        PoiImportSummary* sum);

}  // namespace nbi
