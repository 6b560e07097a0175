// Store pieces shared by both backends: presets, POIs and the walk network around a box, the
// walk network's checks, Open.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"
#include "store/walk_rows.h"
#include "tiles/tiles.h"

namespace nbi {

Result<std::vector<Poi>> LoadPoisAround(PoiStore* store, const BBox& box, double margin_m) {
  std::vector<Poi> all;
  for (const BBox& part : box.ExpandedWrapped(margin_m)) {
    NBI_ASSIGN_OR_RETURN(auto pois, store->LoadPois(part, -1));
    all.insert(all.end(), std::make_move_iterator(pois.begin()),
               std::make_move_iterator(pois.end()));
  }
  return all;
}

Result<std::vector<PoiPoint>> LoadPoiPointsAround(PoiStore* store, const BBox& box,
                                                  double margin_m) {
  std::vector<PoiPoint> all;
  for (const BBox& part : box.ExpandedWrapped(margin_m)) {
    NBI_ASSIGN_OR_RETURN(auto points, store->LoadPoiPoints(part));
    if (all.empty()) {
      all = std::move(points);
    } else {
      all.insert(all.end(), points.begin(), points.end());
    }
  }
  return all;
}

Result<WalkNetwork> LoadWalkNetworkAround(PoiStore* store, const BBox& box, double margin_m) {
  WalkNetwork all;
  const std::vector<BBox> parts = box.ExpandedWrapped(margin_m);
  for (const BBox& part : parts) {
    NBI_ASSIGN_OR_RETURN(WalkNetwork net, store->LoadWalkNetwork(part));
    if (all.edges.empty()) {
      all = std::move(net);
      continue;
    }
    all.nodes.insert(all.nodes.end(), net.nodes.begin(), net.nodes.end());
    all.edges.insert(all.edges.end(), net.edges.begin(), net.edges.end());
  }
  if (parts.size() > 1) {
    // Boxes of one wrap may touch (a node on their common edge is in both): merge them.
    SortUniqueWalkNodes(&all.nodes);
    auto key = [](const WalkEdge& e) { return std::pair(e.a, e.b); };
    std::sort(all.edges.begin(), all.edges.end(),
              [&](const WalkEdge& x, const WalkEdge& y) { return key(x) < key(y); });
    all.edges.erase(
        std::unique(all.edges.begin(), all.edges.end(),
                    [&](const WalkEdge& x, const WalkEdge& y) { return key(x) == key(y); }),
        all.edges.end());
  }
  return all;
}

void SortUniqueWalkNodes(std::vector<WalkNode>* nodes) {
  std::sort(nodes->begin(), nodes->end(),
            [](const WalkNode& x, const WalkNode& y) { return x.id < y.id; });
  nodes->erase(std::unique(nodes->begin(), nodes->end(),
                           [](const WalkNode& x, const WalkNode& y) { return x.id == y.id; }),
               nodes->end());
}

Status PositionMoved(int64_t job_id, int part, int64_t stored, int64_t expected) {
  return Status::Conflict(fmt::format("job {} part {}: the database holds next index {}, not {} "
                                      "(commits lost, or written elsewhere); resuming from {}",
                                      job_id, part, stored, expected, stored))
      .WithReason(std::string(kPositionMovedReason));
}

Status DataChanged(int64_t job_id, int part, int64_t loaded, int64_t stored) {
  return Status::Conflict(fmt::format("job {} part {}: the POIs or walk network changed while it "
                                      "ran (data version {}, its index has {}); it starts again "
                                      "from the new data",
                                      job_id, part, stored, loaded))
      .WithReason(std::string(kDataChangedReason));
}

void SortWalkEdges(std::vector<WalkEdge>* edges) {
  std::sort(edges->begin(), edges->end(), [](const WalkEdge& x, const WalkEdge& y) {
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
}

WalkNetwork JoinWalkNetwork(std::vector<WalkNode> nodes, std::vector<WalkEdge> edges) {
  auto by_id = [](const WalkNode& x, const WalkNode& y) { return x.id < y.id; };
  if (!std::is_sorted(nodes.begin(), nodes.end(), by_id)) {
    std::sort(nodes.begin(), nodes.end(), by_id);
  }
  auto by_ends = [](const WalkEdge& x, const WalkEdge& y) {
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  };
  if (!std::is_sorted(edges.begin(), edges.end(), by_ends)) SortWalkEdges(&edges);
  // Edges come in order of a: node a is found by walking the nodes along with them; node b
  // by a binary search.
  std::vector<uint8_t> used(nodes.size(), 0);
  size_t ia = 0, kept = 0;
  for (const WalkEdge& e : edges) {
    while (ia < nodes.size() && nodes[ia].id < e.a) ++ia;
    if (ia == nodes.size()) break;
    if (nodes[ia].id != e.a) continue;
    auto b = std::lower_bound(nodes.begin(), nodes.end(), e.b,
                              [](const WalkNode& n, int64_t id) { return n.id < id; });
    if (b == nodes.end() || b->id != e.b) continue;
    used[ia] = 1;
    used[static_cast<size_t>(b - nodes.begin())] = 1;
    edges[kept++] = e;
  }
  edges.resize(kept);
  size_t n = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (used[i]) nodes[n++] = nodes[i];
  }
  nodes.resize(n);
  return WalkNetwork{std::move(nodes), std::move(edges)};
}

Status CheckWalkNetwork(const WalkNetwork& network) {
  const std::vector<WalkNode>& nodes = network.nodes;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0 && nodes[i - 1].id >= nodes[i].id) {
      return Status::Invalid(
          fmt::format("walk network: node {} out of order or repeated", nodes[i].id));
    }
    if (!LatLng::Make(nodes[i].lat, nodes[i].lng).ok()) {
      return Status::Invalid(fmt::format("walk network: node {} has a bad position", nodes[i].id));
    }
  }
  auto known = [&nodes](int64_t id) {
    auto it = std::lower_bound(nodes.begin(), nodes.end(), id,
                               [](const WalkNode& n, int64_t v) { return n.id < v; });
    return it != nodes.end() && it->id == id;
  };
  for (size_t i = 0; i < network.edges.size(); ++i) {
    const WalkEdge& e = network.edges[i];
    const bool ordered =
        i == 0 || std::pair(network.edges[i - 1].a, network.edges[i - 1].b) < std::pair(e.a, e.b);
    if (e.a >= e.b || !ordered || !std::isfinite(e.length_m) || e.length_m < 0) {
      return Status::Invalid(
          fmt::format("walk network: edge {}-{} is out of order, repeated or bad", e.a, e.b));
    }
    if (!known(e.a) || !known(e.b)) {
      return Status::Invalid(
          fmt::format("walk network: edge {}-{} has an end among no nodes", e.a, e.b));
    }
  }
  return Status::Ok();
}

std::vector<City> PresetCities() {
  return {
      {0, "cancun", "Cancun", "MX", {20.8, -87.2, 21.4, -86.5}},
      {0, "liechtenstein", "Liechtenstein", "LI", {47.04, 9.47, 47.28, 9.64}},
      {0, "porto", "Porto (centre)", "PT", {41.12, -8.63, 41.16, -8.59}},
      {0, "andorra", "Andorra", "AD", {42.42, 1.40, 42.66, 1.79}},
      {0, "helsinki", "Helsinki (centre)", "FI", {60.16, 24.93, 60.18, 24.96}},
      {0, "monaco", "Monaco", "MC", {43.72, 7.40, 43.76, 7.44}},
  };
}

namespace {

// The password candidates of a URL: the userinfo's password (from the first ':' after the
// scheme to the LAST '@' of the authority, so an '@' or '/' inside it is covered), its
// percent-decoded form, the parts a driver may split it into at '@', '/' or ':', and the
// values of password= parameters. Empty parts are dropped.
std::vector<std::string> Secrets(const std::string& url) {
  std::vector<std::string> out;
  auto add = [&](std::string v) {
    if (v.size() >= 2) out.push_back(std::move(v));
  };
  size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    size_t auth_end = url.find('?', scheme + 3);
    if (auth_end == std::string::npos) auth_end = url.size();
    size_t at = url.rfind('@', auth_end == 0 ? 0 : auth_end - 1);
    size_t colon = url.find(':', scheme + 3);
    if (at != std::string::npos && at > scheme && colon != std::string::npos && colon < at) {
      std::string pw = url.substr(colon + 1, at - colon - 1);
      add(pw);
      std::string decoded;
      for (size_t i = 0; i < pw.size(); ++i) {
        if (pw[i] == '%' && i + 2 < pw.size() && std::isxdigit((unsigned char)pw[i + 1]) &&
            std::isxdigit((unsigned char)pw[i + 2])) {
          decoded += static_cast<char>(std::stoi(pw.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          decoded += pw[i];
        }
      }
      add(decoded);
      for (const std::string& whole : {pw, decoded}) {
        size_t start = 0;
        for (size_t i = 0; i <= whole.size(); ++i) {
          if (i == whole.size() || whole[i] == '@' || whole[i] == '/' || whole[i] == ':') {
            add(whole.substr(start, i - start));
            start = i + 1;
          }
        }
      }
    }
  }
  for (size_t pos = 0; (pos = url.find("password=", pos)) != std::string::npos;) {
    size_t begin = pos + 9;
    size_t end = url.find_first_of("& ", begin);
    if (end == std::string::npos) end = url.size();
    add(url.substr(begin, end - begin));
    pos = begin;
  }
  // Longest first, so a part never leaves a fragment of a longer candidate behind.
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace

std::string ScrubDatabaseSecrets(const std::string& text, const std::string& url) {
  std::string out = text;
  for (const std::string& secret : Secrets(url)) {
    for (size_t pos = 0; (pos = out.find(secret, pos)) != std::string::npos;) {
      out.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return out;
}

std::string RedactDatabaseUrl(const std::string& url) { return ScrubDatabaseSecrets(url, url); }

namespace {
// The default StagedCheckpoint: nothing is sent until Commit, which writes the whole
// checkpoint.
class WriteAtCommit final : public StagedCheckpoint {
 public:
  WriteAtCommit(JobQueue* queue, const Checkpoint& cp) : queue_(queue), cp_(cp) {}
  Result<bool> Commit() override { return queue_->WriteCheckpoint(cp_); }

 private:
  JobQueue* const queue_;
  const Checkpoint cp_;
};
}  // namespace

Result<std::unique_ptr<StagedCheckpoint>> JobQueue::StageCheckpoint(const Checkpoint& cp) {
  return std::unique_ptr<StagedCheckpoint>(std::make_unique<WriteAtCommit>(this, cp));
}

Result<std::vector<Result<bool>>> JobQueue::WriteCheckpoints(std::span<const Checkpoint> cps) {
  std::vector<Result<bool>> out;
  out.reserve(cps.size());
  for (const Checkpoint& cp : cps) out.push_back(WriteCheckpoint(cp));
  return out;
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock* clock,
                                         const StoreOptions& opts) {
  std::unique_ptr<Store> store;
  if (url.empty()) {
    store = std::make_unique<SqliteStore>("nearbyindex.db", clock, opts);
  } else if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite://path
    if (path.empty())
      return Status::Invalid("DATABASE_URL sqlite: needs a file path (sqlite:PATH)");
    store = std::make_unique<SqliteStore>(path, clock, opts);
  } else if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    store = std::make_unique<PgStore>(url, clock, opts);
  } else {
    return Status::Invalid(
        fmt::format("DATABASE_URL '{}' is not understood: use sqlite:PATH or postgresql://...",
                    RedactDatabaseUrl(url)));
  }
  if (Status s = store->Migrate(); !s.ok()) {
    return Status(s.code(), ScrubDatabaseSecrets(s.message(), url));
  }
  return store;
}

std::optional<PartOverviewArea> OverviewAreaOfPart(const Job& job, int64_t begin, int64_t end) {
  auto meta = DecodeHeatmapMetadata(job);
  if (!meta.ok() || end <= begin) return std::nullopt;  // nothing of ours to summarise
  auto g = GridRegion::Make(meta->bounds, meta->grid_step, std::numeric_limits<int64_t>::max());
  if (!g.ok()) return std::nullopt;
  return PartOverviewArea{tiles::ChunkBaseRange(*g, begin, end - begin), meta->grid_step,
                          meta->model};
}

}  // namespace nbi
