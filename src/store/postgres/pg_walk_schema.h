// The PostgreSQL store's walk network tables (a migration of pg_sql.h's kMigrations; the
// statements over them are in pg_walk_sql.h). Internal to src/store/postgres.
#pragma once

namespace nbi {

// Migration: the walk network (walk/network.h). A node is keyed by its OSM id, so the
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

}  // namespace nbi
