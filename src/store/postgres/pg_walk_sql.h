// SQL of the PostgreSQL store's walk network (pg_walk.cc; the tables: pg_walk_schema.h). Same
// conventions as pg_sql.h. Internal to src/store/postgres.
#pragma once

#include "store/postgres/pg_sql.h"

namespace nbi {

// The session's staging tables of an import, filled by binary COPY (as nbi_poi_stage).
inline constexpr const char* kCreateWalkStage =
    "CREATE TEMP TABLE IF NOT EXISTS nbi_walk_node_stage (id bigint, lat float8, lng float8) "
    "ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS nbi_walk_edge_stage (a bigint, b bigint, length_m float8, "
    "cls int, cell bigint, a_lat float8, a_lng float8, b_lat float8, b_lng float8) "
    "ON COMMIT DELETE ROWS";
inline constexpr const char* kCopyWalkNodeStage =
    "COPY nbi_walk_node_stage (id, lat, lng) FROM STDIN (FORMAT binary)";
inline constexpr const char* kCopyWalkEdgeStage =
    "COPY nbi_walk_edge_stage (a, b, length_m, cls, cell, a_lat, a_lng, b_lat, b_lng) FROM STDIN "
    "(FORMAT binary)";
// A known node takes the new position; an unchanged one is not rewritten (no dead row per
// node when the same extract is imported again). xmax = 0 marks an inserted row (see
// kUpsertPoisFromStage). In id order, so that concurrent imports lock rows in one order.
inline constexpr PgSql kUpsertWalkNodesFromStage{
    "upsert_walk_nodes",
    "WITH up AS (INSERT INTO walk_nodes (id, lat, lng) "
    "SELECT id, lat, lng FROM nbi_walk_node_stage ORDER BY id "
    "ON CONFLICT (id) DO UPDATE SET lat = EXCLUDED.lat, lng = EXCLUDED.lng "
    "WHERE walk_nodes.lat <> EXCLUDED.lat OR walk_nodes.lng <> EXCLUDED.lng "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted), count(*) FROM up"};
// A known edge takes the new length (one of its nodes moved), drawing class, street cell and
// end positions: the latest import of it (an unchanged edge is not rewritten). Counts: edges
// inserted, edges inserted or changed.
inline constexpr PgSql kInsertWalkEdgesFromStage{
    "insert_walk_edges",
    "WITH up AS (INSERT INTO walk_edges (a, b, length_m, cls, cell, a_lat, a_lng, b_lat, b_lng) "
    "SELECT a, b, length_m, cls, cell, a_lat, a_lng, b_lat, b_lng FROM nbi_walk_edge_stage "
    "ORDER BY a, b ON CONFLICT (a, b) DO UPDATE SET length_m = EXCLUDED.length_m, "
    "cls = EXCLUDED.cls, cell = EXCLUDED.cell, "
    "a_lat = EXCLUDED.a_lat, a_lng = EXCLUDED.a_lng, b_lat = EXCLUDED.b_lat, "
    "b_lng = EXCLUDED.b_lng "
    "WHERE (walk_edges.length_m, walk_edges.cls, walk_edges.a_lat, walk_edges.a_lng, "
    "walk_edges.b_lat, "
    "walk_edges.b_lng) IS DISTINCT FROM (EXCLUDED.length_m, EXCLUDED.cls, EXCLUDED.a_lat, "
    "EXCLUDED.a_lng, "
    "EXCLUDED.b_lat, EXCLUDED.b_lng) "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted), count(*) FROM up"};
inline constexpr PgSql kBumpWalkNetworkVersion{
    "bump_walk_network_version", "UPDATE walk_network_version SET version = version + 1"};
inline constexpr PgSql kWalkNetworkVersion{"walk_network_version",
                                           "SELECT version FROM walk_network_version"};
// $1: the street cells (an array), $2: the lowest class drawn. An explicit list, so the
// planner sees a few cells' rows and reads them by the index.
inline constexpr PgSql kLoadStreetSegments{
    "load_street_segments",
    "SELECT a_lat, a_lng, b_lat, b_lng, COALESCE(cls, 1) FROM walk_edges "
    "WHERE cell = ANY($1::bigint[]) AND (cls >= $2::int OR cls IS NULL)"};
// $1: node ids (bigint[]). Deletes every edge touching one of them and returns both ends'
// positions (the nodes are deleted by the next statement, so both ends are still there).
inline constexpr PgSql kDeleteWalkEdgesOfNodes{
    "delete_walk_edges_of_nodes",
    "WITH d AS (DELETE FROM walk_edges WHERE a = ANY($1::bigint[]) OR b = ANY($1::bigint[]) "
    "RETURNING a, b) SELECT na.lat, na.lng, nb.lat, nb.lng FROM d "
    "JOIN walk_nodes na ON na.id = d.a JOIN walk_nodes nb ON nb.id = d.b"};
inline constexpr PgSql kDeleteWalkNodes{"delete_walk_nodes",
                                        "DELETE FROM walk_nodes WHERE id = ANY($1::bigint[])"};
// $1 a[], $2 b[] (bigint[] of the same length).
inline constexpr PgSql kDeleteWalkEdges{
    "delete_walk_edges",
    "DELETE FROM walk_edges e USING unnest($1::bigint[], $2::bigint[]) AS d(a, b) "
    "WHERE e.a = d.a AND e.b = d.b"};
// OSM ways' node lists (store.h PoiWrite::ways). $1: way ids (bigint[]).
inline constexpr PgSql kDeleteOsmWays{"delete_osm_ways",
                                      "DELETE FROM osm_way_nodes WHERE way_id = ANY($1::bigint[])"};
// Arrays of one length: $1 way ids, $2 seq, $3 node ids, $4 lat, $5 lng (NULL: unknown), $6 cls.
inline constexpr PgSql kInsertOsmWayNodes{
    "insert_osm_way_nodes",
    "INSERT INTO osm_way_nodes (way_id, seq, node_id, lat, lng, cls) "
    "SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::float8[], $5::float8[], "
    "$6::int[])"};
inline constexpr PgSql kLoadOsmWays{"load_osm_ways",
                                    "SELECT way_id, seq, node_id, lat, lng, cls FROM osm_way_nodes "
                                    "WHERE way_id = ANY($1::bigint[]) ORDER BY way_id, seq"};
inline constexpr PgSql kLoadOsmWaysOfNodes{
    "load_osm_ways_of_nodes",
    "SELECT way_id, seq, node_id, lat, lng, cls FROM osm_way_nodes WHERE way_id IN "
    "(SELECT way_id FROM osm_way_nodes WHERE node_id = ANY($1::bigint[])) ORDER BY way_id, seq"};
// Fresh statistics once an import has added rows. Without them the planner takes the node
// scans of the network's load for a row each and picks joins made for a row (the load's
// earlier form joined both ends so in a nested loop: quadratic, a minute for a 10k-node town) (and
// autovacuum's analyze comes a minute or more after the import, if ever before the first job).
// Inside the import's transaction, which ANALYZE samples with its own new rows; a sample of 30k
// rows per table costs well under a second.
inline constexpr const char* kAnalyzeWalkTables = "ANALYZE walk_nodes, walk_edges";
// {0} min_lat, {1} max_lat, {2} min_lng, {3} max_lng (float8 literals: COPY takes no
// parameters, and so each box is planned for itself). The nodes in the box (b NULL), then
// each one's edges as node a (lng NULL); the store keeps the edges whose node b is among
// those nodes (JoinWalkNetwork, store/walk_rows.h). One statement, so both parts see one
// snapshot. Joining each edge with both its ends here took twice as long: two hash joins over
// the whole box, spilling at the default work_mem. The edges in key order let the planner
// merge the two primary keys over a large box (no hash table; the rows come sorted, as the
// network keeps them) and sort the few rows of a small one. Binary COPY: parsing a few
// million numbers from text, or walking a result of as many values, cost more than the query.
inline constexpr const char* kCopyWalkNetwork =
    "COPY ((SELECT id, NULL::bigint, lat, lng FROM walk_nodes "
    "WHERE lat >= {0} AND lat <= {1} AND lng >= {2} AND lng <= {3}) "
    "UNION ALL "
    "(SELECT e.a, e.b, e.length_m, NULL::float8 FROM walk_nodes na "
    "JOIN walk_edges e ON e.a = na.id "
    "WHERE na.lat >= {0} AND na.lat <= {1} AND na.lng >= {2} AND na.lng <= {3} "
    "ORDER BY e.a, e.b)) TO STDOUT (FORMAT binary)";
inline constexpr PgSql kLoadWalkNodesById{
    "load_walk_nodes_by_id", "SELECT id, lat, lng FROM walk_nodes WHERE id = ANY($1::bigint[])"};
inline constexpr PgSql kLoadWalkNodesIn{
    "load_walk_nodes_in",
    "SELECT id, lat, lng FROM walk_nodes WHERE lat BETWEEN $1::float8 AND $2::float8 "
    "AND lng BETWEEN $3::float8 AND $4::float8"};
inline constexpr PgSql kCountWalkEdges{"count_walk_edges", "SELECT count(*) FROM walk_edges"};

}  // namespace nbi
