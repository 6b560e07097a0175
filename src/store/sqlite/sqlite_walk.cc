// SqliteStore: the walk network (store/store.h PoiStore, walk/network.h).
#include "store/sqlite/sqlite_walk.h"

#include "store/sqlite/sqlite_sql.h"
#include "store/sqlite/sqlite_store.h"
#include "store/walk_rows.h"

namespace nbi {

namespace {

Result<int64_t> CountRows(SqliteConn& c, const char* count_sql) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, count_sql));
  NBI_RETURN_IF_ERROR(q.Step().status());
  const int64_t n = q.I(0);
  q.Reset();
  return n;
}

}  // namespace

// One prepared statement per table, bound and stepped straight through the C API: a city's
// network is a million rows, and this loop is most of an import's write time.
Status SqliteUpsertWalkNetwork(SqliteConn& c, const WalkNetwork& network, PoiImportSummary* sum) {
  if (network.nodes.empty() && network.edges.empty()) return Status::Ok();
  // An upsert's changes() counts updates too: the table's growth is what was inserted.
  NBI_ASSIGN_OR_RETURN(int64_t nodes_before, CountRows(c, sql::kCountWalkNodes));
  NBI_ASSIGN_OR_RETURN(int64_t edges_before, CountRows(c, sql::kCountWalkEdges));
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * node, c.Prepare(sql::kUpsertWalkNode));
  for (const WalkNode& n : network.nodes) {
    sqlite3_bind_int64(node, 1, n.id);
    sqlite3_bind_double(node, 2, n.lat);
    sqlite3_bind_double(node, 3, n.lng);
    const int rc = sqlite3_step(node);
    if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "walk node upsert");
    sqlite3_reset(node);
  }
  NBI_ASSIGN_OR_RETURN(int64_t nodes_after, CountRows(c, sql::kCountWalkNodes));
  sum->walk_nodes_inserted += nodes_after - nodes_before;

  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * edge, c.Prepare(sql::kInsertWalkEdge));
  for (const WalkEdge& e : network.edges) {
    sqlite3_bind_int64(edge, 1, e.a);
    sqlite3_bind_int64(edge, 2, e.b);
    sqlite3_bind_double(edge, 3, e.length_m);
    const int rc = sqlite3_step(edge);
    if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "walk edge insert");
    sqlite3_reset(edge);
  }
  NBI_ASSIGN_OR_RETURN(int64_t edges_after, CountRows(c, sql::kCountWalkEdges));
  sum->walk_edges_inserted += edges_after - edges_before;
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
  return Status::Ok();
}

Result<WalkNetwork> SqliteStore::LoadWalkNetwork(const BBox& box) {
  return WithConn<WalkNetwork>(*readers_, [&](SqliteConn& c) -> Result<WalkNetwork> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kLoadWalkNetwork));
    q.Dbl(box.min_lat).Dbl(box.max_lat).Dbl(box.min_lng).Dbl(box.max_lng);
    WalkNetwork out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      out.edges.push_back({q.I(0), q.I(1), q.D(2)});
      out.nodes.push_back({q.I(0), q.D(3), q.D(4)});
      out.nodes.push_back({q.I(1), q.D(5), q.D(6)});
    }));
    SortUniqueWalkNodes(&out.nodes);
    SortWalkEdges(&out.edges);
    return out;
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

Result<int64_t> SqliteStore::CountWalkEdges() {
  return WithConn<int64_t>(*readers_,
                           [&](SqliteConn& c) { return CountRows(c, sql::kCountWalkEdges); });
}

}  // namespace nbi
