// The PostgreSQL store's walk network tables (a migration of pg_sql.h's kMigrations; the
// statements over them are in pg_walk_sql.h). Internal to src/store/postgres.
#pragma once

namespace nbi {

// Migration: the walk network (common/walk_network.h). A node is keyed by its OSM id, so the
// networks of neighbouring extracts join where they share nodes; an edge by its ends (a < b).
// No foreign keys: edges and their nodes are written together in one transaction, and the
// check would cost a lookup per edge on imports of a million rows.
inline constexpr const char* kPgWalkMigration = R"sql(
CREATE TABLE IF NOT EXISTS walk_nodes (
  id BIGINT PRIMARY KEY,
  lat DOUBLE PRECISION NOT NULL,
  lng DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS walk_nodes_lat_lng_idx ON walk_nodes(lat, lng);
CREATE TABLE IF NOT EXISTS walk_edges (
  a BIGINT NOT NULL,
  b BIGINT NOT NULL,
  length_m DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (a, b));
)sql";

// Migration: what street tiles read (tiles/streets.h), in the edge rows themselves so that a
// tile is one index scan and no lookup of its ends: each edge's drawing class (NULL for edges
// stored before it: drawn as streets until an import names their class), the street cell of
// its midpoint (the arithmetic of tiles::StreetCellOf) and its ends' positions, computed here
// for the stored edges; an index by cell with the class (a zoomed-out tile skips paths inside
// the index). The network's version counter: bumped by every import that changes the network,
// it is the street tiles' ETag.
inline constexpr const char* kPgStreetMigration = R"sql(
ALTER TABLE walk_edges ADD COLUMN IF NOT EXISTS cls SMALLINT;
ALTER TABLE walk_edges ADD COLUMN IF NOT EXISTS cell BIGINT;
ALTER TABLE walk_edges ADD COLUMN IF NOT EXISTS a_lat DOUBLE PRECISION;
ALTER TABLE walk_edges ADD COLUMN IF NOT EXISTS a_lng DOUBLE PRECISION;
ALTER TABLE walk_edges ADD COLUMN IF NOT EXISTS b_lat DOUBLE PRECISION;
ALTER TABLE walk_edges ADD COLUMN IF NOT EXISTS b_lng DOUBLE PRECISION;
UPDATE walk_edges e SET a_lat = na.lat, a_lng = na.lng, b_lat = nb.lat, b_lng = nb.lng,
  cell = floor(((na.lat + nb.lat) / 2 + 90.0) * 64)::bigint * 32768
       + floor(((na.lng + nb.lng) / 2 + 180.0) * 64)::bigint
  FROM walk_nodes na, walk_nodes nb WHERE na.id = e.a AND nb.id = e.b;
CREATE INDEX IF NOT EXISTS walk_edges_cell_idx ON walk_edges(cell, cls);
CREATE TABLE IF NOT EXISTS walk_network_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL);
INSERT INTO walk_network_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;
)sql";

}  // namespace nbi
