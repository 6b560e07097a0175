// PgStore: the walk network (store/store.h PoiStore, common/walk_network.h).
#include "store/postgres/pg_walk.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_store.h"
#include "store/postgres/pg_walk_sql.h"
#include "store/walk_rows.h"
#include "tiles/streets.h"

namespace nbi {

namespace {

// Streams rows into a staging table in slices of about 1 MB: a city's network is a million
// rows, which need not sit in memory a second time as one COPY buffer.
template <typename Row, typename Encode>
Status CopyRows(PgConn& c, const char* copy_sql, const std::vector<Row>& rows, Encode encode) {
  constexpr size_t kSliceBytes = size_t{1} << 20;
  PgBinaryCopy copy;
  copy.Reserve(kSliceBytes + 64);
  copy.Header();
  NBI_RETURN_IF_ERROR(c.CopyStart(copy_sql));
  for (const Row& row : rows) {
    encode(row, &copy);
    if (copy.data().size() >= kSliceBytes) {
      NBI_RETURN_IF_ERROR(c.CopyPut(copy.data()));
      copy.data().clear();
    }
  }
  copy.Trailer();
  NBI_RETURN_IF_ERROR(c.CopyPut(copy.data()));
  return c.CopyFinish();
}

}  // namespace

Status PgUpsertWalkNetwork(PgConn& c, const WalkNetwork& network, PoiImportSummary* sum) {
  if (network.nodes.empty() && network.edges.empty()) return Status::Ok();
  NBI_RETURN_IF_ERROR(
      CopyRows(c, kCopyWalkNodeStage, network.nodes, [](const WalkNode& n, PgBinaryCopy* out) {
        out->Row(3);
        out->Int8(n.id);
        out->Float8(n.lat);
        out->Float8(n.lng);
      }));
  // An edge's end positions and street cell (tiles/streets.h) come from this import's nodes.
  auto pos = [&](int64_t id) {
    return *std::lower_bound(network.nodes.begin(), network.nodes.end(), id,
                             [](const WalkNode& n, int64_t v) { return n.id < v; });
  };
  NBI_RETURN_IF_ERROR(
      CopyRows(c, kCopyWalkEdgeStage, network.edges, [&](const WalkEdge& e, PgBinaryCopy* out) {
        const WalkNode na = pos(e.a), nb = pos(e.b);
        out->Row(9);
        out->Int8(e.a);
        out->Int8(e.b);
        out->Float8(e.length_m);
        out->Int4(e.cls);
        out->Int8(tiles::StreetCellOf((na.lat + nb.lat) / 2, (na.lng + nb.lng) / 2));
        out->Float8(na.lat);
        out->Float8(na.lng);
        out->Float8(nb.lat);
        out->Float8(nb.lng);
      }));
  NBI_ASSIGN_OR_RETURN(PgRows nodes, c.Exec(kUpsertWalkNodesFromStage));
  sum->walk_nodes_inserted += nodes.i64(0, 0);
  NBI_ASSIGN_OR_RETURN(PgRows edges, c.Exec(kInsertWalkEdgesFromStage));
  sum->walk_edges_inserted += edges.i64(0, 0);
  if (nodes.i64(0, 0) > 0 || edges.i64(0, 0) > 0) {
    NBI_RETURN_IF_ERROR(c.Exec(kAnalyzeWalkTables, "analyze").status());
  }
  if (nodes.i64(0, 1) > 0 || edges.i64(0, 1) > 0) {
    NBI_RETURN_IF_ERROR(c.Exec(kBumpWalkNetworkVersion).status());
  }
  return Status::Ok();
}

namespace {

// A PostgreSQL array literal of integers: "{1,2,3}".
template <typename T, typename Get>
std::string IntArray(const std::vector<T>& rows, Get get) {
  std::string out = "{";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(get(rows[i]));
  }
  return out + "}";
}

}  // namespace

Status PgDeleteWalkRows(PgConn& c, const std::vector<int64_t>& nodes,
                        const std::vector<std::pair<int64_t, int64_t>>& edges,
                        PoiImportSummary* sum) {
  if (!edges.empty()) {
    NBI_ASSIGN_OR_RETURN(
        PgRows d, c.Exec(kDeleteWalkEdges,
                         PgParams()
                             .Text(IntArray(edges, [](const auto& e) { return e.first; }))
                             .Text(IntArray(edges, [](const auto& e) { return e.second; }))));
    sum->walk_edges_removed += d.affected();
  }
  if (!nodes.empty()) {
    const std::string ids = IntArray(nodes, [](int64_t id) { return id; });
    NBI_ASSIGN_OR_RETURN(PgRows ends, c.Exec(kDeleteWalkEdgesOfNodes, PgParams().Text(ids)));
    for (int i = 0; i < ends.size(); ++i) {
      sum->cascaded_edge_ends.push_back({ends.f64(i, 0), ends.f64(i, 1)});
      sum->cascaded_edge_ends.push_back({ends.f64(i, 2), ends.f64(i, 3)});
    }
    sum->walk_edges_removed += ends.size();
    NBI_ASSIGN_OR_RETURN(PgRows d, c.Exec(kDeleteWalkNodes, PgParams().Text(ids)));
    sum->walk_nodes_removed += d.affected();
  }
  // Street tiles are current while the network's version holds (store.h).
  if (sum->walk_edges_removed > 0 || sum->walk_nodes_removed > 0) {
    NBI_RETURN_IF_ERROR(c.Exec(kBumpWalkNetworkVersion).status());
  }
  return Status::Ok();
}

Status PgWriteOsmWays(PgConn& c, const std::vector<OsmWayNodes>& ways,
                      const std::vector<int64_t>& deletes) {
  std::vector<int64_t> forget = deletes;
  for (const OsmWayNodes& w : ways) forget.push_back(w.id);
  if (!forget.empty()) {
    NBI_RETURN_IF_ERROR(
        c.Exec(kDeleteOsmWays, PgParams().Text(IntArray(forget, [](int64_t v) { return v; })))
            .status());
  }
  // Slices of about 20k rows: one statement each, arrays of a few hundred kB.
  constexpr size_t kSliceRows = 20000;
  std::array<std::string, 6> cols;
  size_t rows = 0;
  auto flush = [&]() -> Status {
    if (rows == 0) return Status::Ok();
    PgParams p;
    for (std::string& col : cols) p.Text("{" + col + "}");
    for (std::string& col : cols) col.clear();
    rows = 0;
    return c.Exec(kInsertOsmWayNodes, p).status();
  };
  for (const OsmWayNodes& w : ways) {
    for (size_t k = 0; k < w.refs.size(); ++k) {
      const OsmWayRef& r = w.refs[k];
      const char* sep = rows == 0 ? "" : ",";
      cols[0] += fmt::format("{}{}", sep, w.id);
      cols[1] += fmt::format("{}{}", sep, k);
      cols[2] += fmt::format("{}{}", sep, r.node);
      cols[3] += r.known ? fmt::format("{}{}", sep, r.lat) : fmt::format("{}NULL", sep);
      cols[4] += r.known ? fmt::format("{}{}", sep, r.lng) : fmt::format("{}NULL", sep);
      cols[5] += fmt::format("{}{}", sep, w.cls);
      if (++rows >= kSliceRows) NBI_RETURN_IF_ERROR(flush());
    }
  }
  return flush();
}

namespace {

std::vector<OsmWayNodes> ReadOsmWays(const PgRows& r) {
  std::vector<OsmWayNodes> out;
  for (int i = 0; i < r.size(); ++i) {
    const int64_t id = r.i64(i, 0);
    if (out.empty() || out.back().id != id) out.push_back({id, static_cast<int>(r.i64(i, 5)), {}});
    const bool known = !r.null(i, 3);
    out.back().refs.push_back(
        {r.i64(i, 2), known ? r.f64(i, 3) : 0, known ? r.f64(i, 4) : 0, known});
  }
  return out;
}

}  // namespace

Result<std::vector<OsmWayNodes>> PgStore::LoadOsmWays(const std::vector<int64_t>& way_ids) {
  using Out = std::vector<OsmWayNodes>;
  if (way_ids.empty()) return Out{};
  const std::string ids = IntArray(way_ids, [](int64_t v) { return v; });
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadOsmWays, PgParams().Text(ids)));
    return ReadOsmWays(r);
  });
}

Result<std::vector<OsmWayNodes>> PgStore::LoadOsmWaysOfNodes(const std::vector<int64_t>& node_ids) {
  using Out = std::vector<OsmWayNodes>;
  if (node_ids.empty()) return Out{};
  const std::string ids = IntArray(node_ids, [](int64_t v) { return v; });
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadOsmWaysOfNodes, PgParams().Text(ids)));
    return ReadOsmWays(r);
  });
}

namespace {

std::string Float8Literal(double v) { return fmt::format("'{}'::float8", v); }

// kCopyWalkNetwork's rows: nodes (id, NULL, lat, lng) and edges (a, b, length_m, NULL).
Status ReadWalkRows(std::string_view stream, std::vector<WalkNode>* nodes,
                    std::vector<WalkEdge>* edges) {
  PgBinaryCopyReader in(stream);
  NBI_RETURN_IF_ERROR(in.Start());
  while (in.Next()) {
    const auto& f = in.fields();
    if (f.size() != 4 || !f[0] || !f[2]) return Status::Internal("walk network: a malformed row");
    if (!f[1]) {
      if (!f[3]) return Status::Internal("walk network: a node without its longitude");
      nodes->push_back({PgBinaryInt8(*f[0]), PgBinaryFloat8(*f[2]), PgBinaryFloat8(*f[3])});
    } else {
      edges->push_back({PgBinaryInt8(*f[0]), PgBinaryInt8(*f[1]), PgBinaryFloat8(*f[2])});
    }
  }
  return in.status();
}

}  // namespace

Result<WalkNetwork> PgStore::LoadWalkNetwork(const BBox& box) {
  const std::string copy =
      fmt::format(kCopyWalkNetwork, Float8Literal(box.min_lat), Float8Literal(box.max_lat),
                  Float8Literal(box.min_lng), Float8Literal(box.max_lng));
  return WithReadConn<WalkNetwork>(*pool_, [&](PgConn& c) -> Result<WalkNetwork> {
    std::string stream;
    NBI_RETURN_IF_ERROR(c.CopyOut(copy, &stream));
    std::vector<WalkNode> nodes;
    std::vector<WalkEdge> edges;
    NBI_RETURN_IF_ERROR(ReadWalkRows(stream, &nodes, &edges));
    return JoinWalkNetwork(std::move(nodes), std::move(edges));
  });
}

namespace {
std::vector<WalkNode> ReadWalkNodes(const PgRows& r) {
  std::vector<WalkNode> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i) out.push_back({r.i64(i, 0), r.f64(i, 1), r.f64(i, 2)});
  return out;
}
}  // namespace

Result<std::vector<WalkNode>> PgStore::LoadWalkNodesById(const std::vector<int64_t>& ids) {
  using Out = std::vector<WalkNode>;
  if (ids.empty()) return Out{};
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(
        PgRows r,
        c.Exec(kLoadWalkNodesById, PgParams().Text(IntArray(ids, [](int64_t v) { return v; }))));
    return ReadWalkNodes(r);
  });
}

Result<std::vector<WalkNode>> PgStore::LoadWalkNodesIn(const BBox& box) {
  using Out = std::vector<WalkNode>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadWalkNodesIn, PgParams()
                                                                .Double(box.min_lat)
                                                                .Double(box.max_lat)
                                                                .Double(box.min_lng)
                                                                .Double(box.max_lng)));
    return ReadWalkNodes(r);
  });
}

Result<int64_t> PgStore::WalkNetworkVersion() {
  return WithReadConn<int64_t>(*pool_, [&](PgConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kWalkNetworkVersion));
    return r.i64(0, 0);
  });
}

Status PgStore::LoadStreetSegments(const tiles::StreetCellRange& cells, int min_class,
                                   std::vector<tiles::StreetSegment>* out) {
  out->clear();
  std::string list = "{";
  for (int64_t row = cells.row0; row <= cells.row1; ++row) {
    for (int64_t col = cells.col0; col <= cells.col1; ++col) {
      if (list.size() > 1) list += ',';
      list += std::to_string(row * tiles::kStreetCellCols + col);
    }
  }
  list += '}';
  auto load = [&](PgConn& c) -> Result<bool> {
    NBI_ASSIGN_OR_RETURN(PgRows r,
                         c.Exec(kLoadStreetSegments, PgParams().Text(list).Int(min_class)));
    out->reserve(r.size());
    for (int i = 0; i < r.size(); ++i) {
      out->push_back(
          {r.f64(i, 0), r.f64(i, 1), r.f64(i, 2), r.f64(i, 3), static_cast<uint8_t>(r.i64(i, 4))});
    }
    return true;
  };
  return WithReadConn<bool>(*pool_, load).status();
}

Result<int64_t> PgStore::CountWalkEdges() {
  return WithReadConn<int64_t>(*pool_, [&](PgConn& c) -> Result<int64_t> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kCountWalkEdges));
    return r.i64(0, 0);
  });
}

}  // namespace nbi
