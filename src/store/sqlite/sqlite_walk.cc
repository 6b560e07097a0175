// SqliteStore: the walk network (store/store.h PoiStore, common/walk_network.h).
#include "store/sqlite/sqlite_walk.h"

#include <algorithm>

#include "store/sqlite/sqlite_sql.h"
#include "store/sqlite/sqlite_store.h"
#include "store/walk_rows.h"
#include "tiles/streets.h"

namespace nbi {

// One prepared statement per table, bound and stepped straight through the C API: a city's
// network is a million rows, and this loop is most of an import's write time.
Status SqliteUpsertWalkNetwork(SqliteConn& c, const WalkNetwork& network, PoiImportSummary* sum) {
  if (network.nodes.empty() && network.edges.empty()) return Status::Ok();
  // An upsert's changes() counts updates too: the table's growth is what was inserted.
  NBI_ASSIGN_OR_RETURN(int64_t nodes_before, QueryInt(c, sql::kCountWalkNodes));
  NBI_ASSIGN_OR_RETURN(int64_t edges_before, QueryInt(c, sql::kCountWalkEdges));
  int64_t changed = 0;  // rows inserted or updated: any bumps the network's version
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * node, c.Prepare(sql::kUpsertWalkNode));
  for (const WalkNode& n : network.nodes) {
    sqlite3_bind_int64(node, 1, n.id);
    sqlite3_bind_double(node, 2, n.lat);
    sqlite3_bind_double(node, 3, n.lng);
    const int rc = sqlite3_step(node);
    if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "walk node upsert");
    changed += c.changes();
    sqlite3_reset(node);
  }
  NBI_ASSIGN_OR_RETURN(int64_t nodes_after, QueryInt(c, sql::kCountWalkNodes));
  sum->walk_nodes_inserted += nodes_after - nodes_before;

  // An edge's end positions and street cell (tiles/streets.h) come from this import's nodes.
  auto pos = [&](int64_t id) {
    auto it = std::lower_bound(network.nodes.begin(), network.nodes.end(), id,
                               [](const WalkNode& n, int64_t v) { return n.id < v; });
    return *it;  // CheckWalkNetwork: both ends are among the nodes
  };
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * edge, c.Prepare(sql::kInsertWalkEdge));
  for (const WalkEdge& e : network.edges) {
    const WalkNode na = pos(e.a), nb = pos(e.b);
    sqlite3_bind_int64(edge, 1, e.a);
    sqlite3_bind_int64(edge, 2, e.b);
    sqlite3_bind_double(edge, 3, e.length_m);
    sqlite3_bind_int(edge, 4, e.cls);
    sqlite3_bind_int64(edge, 5, tiles::StreetCellOf((na.lat + nb.lat) / 2, (na.lng + nb.lng) / 2));
    sqlite3_bind_double(edge, 6, na.lat);
    sqlite3_bind_double(edge, 7, na.lng);
    sqlite3_bind_double(edge, 8, nb.lat);
    sqlite3_bind_double(edge, 9, nb.lng);
    const int rc = sqlite3_step(edge);
    if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "walk edge insert");
    changed += c.changes();
    sqlite3_reset(edge);
  }
  NBI_ASSIGN_OR_RETURN(int64_t edges_after, QueryInt(c, sql::kCountWalkEdges));
  sum->walk_edges_inserted += edges_after - edges_before;
  if (changed > 0) NBI_RETURN_IF_ERROR(c.Exec(sql::kBumpWalkNetworkVersion));
  return Status::Ok();
}

Status SqliteDeleteWalkRows(SqliteConn& c, const std::vector<int64_t>& nodes,
                            const std::vector<std::pair<int64_t, int64_t>>& edges,
                            PoiImportSummary* sum) {
  for (const auto& [a, b] : edges) {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kDeleteWalkEdge));
    NBI_RETURN_IF_ERROR(q.Int(a).Int(b).Run());
    sum->walk_edges_removed += c.changes();
  }
  for (int64_t id : nodes) {
    NBI_ASSIGN_OR_RETURN(SqliteStmt ends, Query(c, sql::kWalkEdgesOfNode));
    ends.Int(id);
    NBI_RETURN_IF_ERROR(ends.Rows([&] {
      sum->cascaded_edge_ends.push_back({ends.D(0), ends.D(1)});
      sum->cascaded_edge_ends.push_back({ends.D(2), ends.D(3)});
    }));
    NBI_ASSIGN_OR_RETURN(SqliteStmt del_edges, Query(c, sql::kDeleteWalkEdgesOfNode));
    NBI_RETURN_IF_ERROR(del_edges.Int(id).Run());
    sum->walk_edges_removed += c.changes();
    NBI_ASSIGN_OR_RETURN(SqliteStmt del, Query(c, sql::kDeleteWalkNode));
    NBI_RETURN_IF_ERROR(del.Int(id).Run());
    sum->walk_nodes_removed += c.changes();
  }
  if (sum->walk_edges_removed > 0 || sum->walk_nodes_removed > 0) {
    NBI_RETURN_IF_ERROR(c.Exec(sql::kBumpWalkNetworkVersion));
  }
  return Status::Ok();
}

Result<WalkNetwork> SqliteStore::LoadWalkNetwork(const BBox& box) {
  return WithConn<WalkNetwork>(*readers_, [&](SqliteConn& c) -> Result<WalkNetwork> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadWalkNetwork));
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng);
    std::vector<WalkNode> nodes;
    std::vector<WalkEdge> edges;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      if (q.IsNull(1)) {
        nodes.push_back({q.I(0), q.D(2), q.D(3)});
      } else {
        edges.push_back({q.I(0), q.I(1), q.D(2)});
      }
    }));
    return JoinWalkNetwork(std::move(nodes), std::move(edges));
  });
}

Result<std::vector<WalkNode>> SqliteStore::LoadWalkNodesById(const std::vector<int64_t>& ids) {
  using Out = std::vector<WalkNode>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    Out out;
    for (int64_t id : ids) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadWalkNodeById));
      q.Int(id);
      NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back({q.I(0), q.D(1), q.D(2)}); }));
    }
    return out;
  });
}

Result<std::vector<WalkNode>> SqliteStore::LoadWalkNodesIn(const BBox& box) {
  using Out = std::vector<WalkNode>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadWalkNodesIn));
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] { out.push_back({q.I(0), q.D(1), q.D(2)}); }));
    return out;
  });
}

// The version table holds one row: CountRows reads its one value.
Result<int64_t> SqliteStore::WalkNetworkVersion() {
  return WithConn<int64_t>(*readers_,
                           [&](SqliteConn& c) { return QueryInt(c, sql::kWalkNetworkVersion); });
}

Status SqliteStore::LoadStreetSegments(const tiles::StreetCellRange& cells, int min_class,
                                       std::vector<tiles::StreetSegment>* out) {
  out->clear();
  auto load = [&](SqliteConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(sqlite3_stmt * q, c.Prepare(sql::kLoadStreetSegments));
    // One range of the cell index per row of cells.
    for (int64_t row = cells.row0; row <= cells.row1; ++row) {
      const int64_t base = row * tiles::kStreetCellCols;
      sqlite3_bind_int64(q, 1, base + cells.col0);
      sqlite3_bind_int64(q, 2, base + cells.col1);
      sqlite3_bind_int(q, 3, min_class);
      int rc;
      while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        out->push_back({sqlite3_column_double(q, 0), sqlite3_column_double(q, 1),
                        sqlite3_column_double(q, 2), sqlite3_column_double(q, 3),
                        static_cast<uint8_t>(sqlite3_column_int(q, 4))});
      }
      sqlite3_reset(q);
      if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "street segments");
    }
    return true;
  };
  return WithConn<bool>(*readers_, load).status();
}

Result<int64_t> SqliteStore::CountWalkEdges() {
  return WithConn<int64_t>(*readers_,
                           [&](SqliteConn& c) { return QueryInt(c, sql::kCountWalkEdges); });
}

Status SqliteWriteOsmWays(SqliteConn& c, const std::vector<OsmWayNodes>& ways,
                          const std::vector<int64_t>& deletes) {
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * del, c.Prepare(sql::kDeleteOsmWay));
  auto forget = [&](int64_t id) -> Status {
    sqlite3_bind_int64(del, 1, id);
    const int rc = sqlite3_step(del);
    sqlite3_reset(del);
    return rc == SQLITE_DONE ? Status::Ok() : SqlError(c.db(), rc, "osm way delete");
  };
  for (int64_t id : deletes) NBI_RETURN_IF_ERROR(forget(id));
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * ins, c.Prepare(sql::kInsertOsmWayNode));
  for (const OsmWayNodes& w : ways) {
    NBI_RETURN_IF_ERROR(forget(w.id));
    for (size_t k = 0; k < w.refs.size(); ++k) {
      const OsmWayRef& r = w.refs[k];
      sqlite3_bind_int64(ins, 1, w.id);
      sqlite3_bind_int64(ins, 2, static_cast<int64_t>(k));
      sqlite3_bind_int64(ins, 3, r.node);
      if (r.known) {
        sqlite3_bind_double(ins, 4, r.lat);
        sqlite3_bind_double(ins, 5, r.lng);
      } else {
        sqlite3_bind_null(ins, 4);
        sqlite3_bind_null(ins, 5);
      }
      sqlite3_bind_int(ins, 6, w.cls);
      const int rc = sqlite3_step(ins);
      sqlite3_reset(ins);
      if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "osm way insert");
    }
  }
  return Status::Ok();
}

namespace {

Status LoadOsmWay(SqliteConn& c, int64_t id, std::vector<OsmWayNodes>* out) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadOsmWay));
  q.Int(id);
  OsmWayNodes w;
  w.id = id;
  NBI_RETURN_IF_ERROR(q.Rows([&] {
    w.cls = static_cast<int>(q.I(5));
    const bool known = !q.IsNull(3);
    w.refs.push_back({q.I(2), known ? q.D(3) : 0, known ? q.D(4) : 0, known});
  }));
  if (!w.refs.empty()) out->push_back(std::move(w));
  return Status::Ok();
}

}  // namespace

Result<std::vector<OsmWayNodes>> SqliteStore::LoadOsmWays(const std::vector<int64_t>& way_ids) {
  using Out = std::vector<OsmWayNodes>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    Out out;
    std::vector<int64_t> ids = way_ids;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (int64_t id : ids) NBI_RETURN_IF_ERROR(LoadOsmWay(c, id, &out));
    return out;
  });
}

Result<std::vector<OsmWayNodes>> SqliteStore::LoadOsmWaysOfNodes(
    const std::vector<int64_t>& node_ids) {
  using Out = std::vector<OsmWayNodes>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    std::vector<int64_t> ways;
    for (int64_t id : node_ids) {
      NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kOsmWaysOfNode));
      q.Int(id);
      NBI_RETURN_IF_ERROR(q.Rows([&] { ways.push_back(q.I(0)); }));
    }
    std::sort(ways.begin(), ways.end());
    ways.erase(std::unique(ways.begin(), ways.end()), ways.end());
    Out out;
    for (int64_t id : ways) NBI_RETURN_IF_ERROR(LoadOsmWay(c, id, &out));
    return out;
  });
}

}  // namespace nbi
