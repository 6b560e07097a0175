// SQL of the SQLite store's walk network (sqlite_walk.cc, store/store.h PoiStore). Same
// conventions as sqlite_sql.h.
#pragma once

namespace nbi::sql {

// OSM ways' node lists (store.h PoiWrite::ways), one row per node of a way; lat/lng NULL where
// the node's position was not known. The index by node finds the ways a moved node belongs to.
inline constexpr const char* kOsmWayNodesMigration = R"sql(
CREATE TABLE IF NOT EXISTS osm_way_nodes (
  way_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  lat REAL,
  lng REAL,
  cls INTEGER NOT NULL,
  PRIMARY KEY (way_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS osm_way_nodes_node_idx ON osm_way_nodes(node_id);
CREATE INDEX IF NOT EXISTS walk_edges_b_idx ON walk_edges(b);
)sql";
inline constexpr const char* kDeleteOsmWay = "DELETE FROM osm_way_nodes WHERE way_id = ?";
// ?: way_id, seq, node_id, lat, lng, cls.
inline constexpr const char* kInsertOsmWayNode =
    "INSERT INTO osm_way_nodes (way_id, seq, node_id, lat, lng, cls) VALUES (?, ?, ?, ?, ?, ?)";
inline constexpr const char* kLoadOsmWay =
    "SELECT way_id, seq, node_id, lat, lng, cls FROM osm_way_nodes WHERE way_id = ? ORDER BY seq";
inline constexpr const char* kOsmWaysOfNode =
    "SELECT DISTINCT way_id FROM osm_way_nodes WHERE node_id = ?";

// Migration: the walk network (common/walk_network.h). A node is keyed by its OSM id, so the
// networks of neighbouring extracts join where they share nodes; an edge by its ends (a < b).
// No foreign keys: edges and their nodes are written together in one transaction, and the
// check would cost a lookup per edge on imports of a million rows. WITHOUT ROWID: the key is
// the table, and LoadWalkNetwork reaches an edge by its leading column a.
inline constexpr const char* kWalkMigration = R"sql(
CREATE TABLE walk_nodes (
  id INTEGER PRIMARY KEY,
  lat REAL NOT NULL,
  lng REAL NOT NULL);
CREATE INDEX walk_nodes_lat_lng_idx ON walk_nodes(lat, lng);
CREATE TABLE walk_edges (
  a INTEGER NOT NULL,
  b INTEGER NOT NULL,
  length_m REAL NOT NULL,
  PRIMARY KEY (a, b)) WITHOUT ROWID;
)sql";

// Counted before and after an import: the difference is the nodes it added.
inline constexpr const char* kCountWalkNodes = "SELECT COUNT(*) FROM walk_nodes";
inline constexpr const char* kCountWalkEdges = "SELECT COUNT(*) FROM walk_edges";
// ?: id, lat, lng. A known node takes the new position; an unchanged one is not rewritten.
inline constexpr const char* kUpsertWalkNode =
    "INSERT INTO walk_nodes (id, lat, lng) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "lat = excluded.lat, lng = excluded.lng WHERE lat <> excluded.lat OR lng <> excluded.lng";
// ?: a, b, length_m, cls, cell, a_lat, a_lng, b_lat, b_lng. A known edge takes the new length
// (one of its nodes moved), drawing class, street cell and end positions: the latest import of
// it (an unchanged edge is not rewritten: changes() = 0).
inline constexpr const char* kInsertWalkEdge =
    "INSERT INTO walk_edges (a, b, length_m, cls, cell, a_lat, a_lng, b_lat, b_lng) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET "
    "length_m = excluded.length_m, cls = excluded.cls, "
    "cell = excluded.cell, a_lat = excluded.a_lat, a_lng = excluded.a_lng, "
    "b_lat = excluded.b_lat, b_lng = excluded.b_lng "
    "WHERE length_m <> excluded.length_m OR cls IS NOT excluded.cls OR a_lat IS NOT excluded.a_lat "
    "OR a_lng IS NOT excluded.a_lng "
    "OR b_lat IS NOT excluded.b_lat OR b_lng IS NOT excluded.b_lng";

// ?1: a node id. Both ends of every edge that touches it (deleted with it).
inline constexpr const char* kWalkEdgesOfNode =
    "SELECT na.lat, na.lng, nb.lat, nb.lng FROM walk_edges e JOIN walk_nodes na ON na.id = e.a "
    "JOIN walk_nodes nb ON nb.id = e.b WHERE e.a = ?1 OR e.b = ?1";
inline constexpr const char* kDeleteWalkEdgesOfNode =
    "DELETE FROM walk_edges WHERE a = ?1 OR b = ?1";
inline constexpr const char* kLoadWalkNodeById = "SELECT id, lat, lng FROM walk_nodes WHERE id = ?";
// ?: min_lat, max_lat, min_lng, max_lng.
inline constexpr const char* kLoadWalkNodesIn =
    "SELECT id, lat, lng FROM walk_nodes WHERE lat BETWEEN ? AND ? AND lng BETWEEN ? AND ?";
inline constexpr const char* kDeleteWalkNode = "DELETE FROM walk_nodes WHERE id = ?";
inline constexpr const char* kDeleteWalkEdge = "DELETE FROM walk_edges WHERE a = ? AND b = ?";

// Migration: what street tiles read (tiles/streets.h), in the edge rows themselves so that a
// tile is one index range per row of cells and no lookup of its ends: each edge's drawing
// class (NULL for edges stored before it: drawn as streets until an import names their
// class), the street cell of its midpoint and its ends' positions, computed here for the
// stored edges (the cell with the arithmetic of tiles::StreetCellOf: lat + 90 >= 0, so CAST
// truncates as floor would); an index by cell with the class (a zoomed-out tile skips paths
// inside the index). The network's version counter: bumped by every import that changes the
// network, it is the street tiles' ETag.
inline constexpr const char* kStreetMigration = R"sql(
ALTER TABLE walk_edges ADD COLUMN cls INTEGER;
ALTER TABLE walk_edges ADD COLUMN cell INTEGER;
ALTER TABLE walk_edges ADD COLUMN a_lat REAL;
ALTER TABLE walk_edges ADD COLUMN a_lng REAL;
ALTER TABLE walk_edges ADD COLUMN b_lat REAL;
ALTER TABLE walk_edges ADD COLUMN b_lng REAL;
UPDATE walk_edges SET
  a_lat = (SELECT lat FROM walk_nodes WHERE id = walk_edges.a),
  a_lng = (SELECT lng FROM walk_nodes WHERE id = walk_edges.a),
  b_lat = (SELECT lat FROM walk_nodes WHERE id = walk_edges.b),
  b_lng = (SELECT lng FROM walk_nodes WHERE id = walk_edges.b);
UPDATE walk_edges SET cell =
    CAST(((a_lat + b_lat) / 2 + 90.0) * 64 AS INTEGER) * 32768
  + CAST(((a_lng + b_lng) / 2 + 180.0) * 64 AS INTEGER);
CREATE INDEX walk_edges_cell_idx ON walk_edges(cell, cls);
CREATE TABLE walk_network_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL);
INSERT INTO walk_network_version (id, version) VALUES (1, 1);
)sql";
inline constexpr const char* kWalkNetworkVersion = "SELECT version FROM walk_network_version";
inline constexpr const char* kBumpWalkNetworkVersion =
    "UPDATE walk_network_version SET version = version + 1";
// ?1, ?2: the first and last street cell of one row of cells; ?3: the lowest class drawn.
inline constexpr const char* kLoadStreetSegments =
    "SELECT a_lat, a_lng, b_lat, b_lng, COALESCE(cls, 1) FROM walk_edges "
    "WHERE cell BETWEEN ?1 AND ?2 AND (cls >= ?3 OR cls IS NULL)";

// ?1 min_lat, ?2 max_lat, ?3 min_lng, ?4 max_lng. The nodes in the box by their index (b
// NULL), then each one's edges as node a by the edges' key (lng NULL); the store keeps the
// edges whose node b is among those nodes (JoinWalkNetwork, store/walk_rows.h) instead of
// looking up each edge's node b here. One statement: one snapshot for both parts.
inline constexpr const char* kLoadWalkNetwork =
    "SELECT id, NULL, lat, lng FROM walk_nodes "
    "WHERE lat >= ?1 AND lat <= ?2 AND lng >= ?3 AND lng <= ?4 "
    "UNION ALL "
    "SELECT e.a, e.b, e.length_m, NULL FROM walk_nodes na JOIN walk_edges e ON e.a = na.id "
    "WHERE na.lat >= ?1 AND na.lat <= ?2 AND na.lng >= ?3 AND na.lng <= ?4";

}  // namespace nbi::sql
