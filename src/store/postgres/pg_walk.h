// The PostgreSQL store's walk network writes, called inside UpsertPois' transaction so that
// the network commits with the POIs of its file. Internal to src/store/postgres.
#pragma once

#include "store/postgres/pg_conn.h"
#include "store/store.h"

namespace nbi {

// Upserts the nodes (by id) and inserts the new edges of `network` (already checked:
// CheckWalkNetwork) in `c`'s open transaction; adds the rows it inserted to `sum`. The
// staging tables must exist (kCreateWalkStage, created outside the transaction).
Status PgUpsertWalkNetwork(PgConn& c, const WalkNetwork& network, PoiImportSummary* sum);

}  // namespace nbi
