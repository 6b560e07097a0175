// Applying an OSM change file (refresh.h PlanChange): the file's last state of each node and
// way against the stored POIs, walk network and OSM way node lists.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "geo/geo.h"
#include "jobs/refresh.h"

namespace nbi {

namespace {

using Pair = std::pair<int64_t, int64_t>;

Pair Ordered(int64_t a, int64_t b) { return {std::min(a, b), std::max(a, b)}; }

// Where every node stands after the change: the file's position, else the stored one (a walk
// node, or a node of a stored way); nothing for a node the file deletes or nobody knows.
class Positions {
 public:
  void Set(int64_t id, LatLng p) { file_[id] = p; }
  void Delete(int64_t id) { deleted_.insert(id); }
  void Stored(int64_t id, LatLng p) { stored_.emplace(id, p); }
  bool Deleted(int64_t id) const { return deleted_.count(id) > 0; }
  bool InFile(int64_t id) const { return file_.count(id) > 0; }
  std::optional<LatLng> At(int64_t id) const {
    if (deleted_.count(id)) return std::nullopt;
    if (auto it = file_.find(id); it != file_.end()) return it->second;
    if (auto it = stored_.find(id); it != stored_.end()) return it->second;
    return std::nullopt;
  }

 private:
  std::unordered_map<int64_t, LatLng> file_, stored_;
  std::unordered_set<int64_t> deleted_;
};

// A way's POI position as the extract importer places it (import_osm.cc): the mean of the
// distinct positions of its nodes that are known.
std::optional<LatLng> Place(const std::vector<int64_t>& refs, const Positions& at) {
  std::vector<std::pair<double, double>> distinct;
  for (int64_t id : refs) {
    if (auto p = at.At(id)) distinct.emplace_back(p->lat, p->lng);
  }
  if (distinct.empty()) return std::nullopt;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  double lat = 0, lng = 0;
  for (const auto& [a, b] : distinct) lat += a, lng += b;
  return LatLng{lat / double(distinct.size()), lng / double(distinct.size())};
}

OsmWayNodes WayRows(int64_t id, int cls, const std::vector<int64_t>& refs, const Positions& at) {
  OsmWayNodes w{id, cls, {}};
  for (int64_t ref : refs) {
    const std::optional<LatLng> p = at.At(ref);
    w.refs.push_back({ref, p ? p->lat : 0, p ? p->lng : 0, p.has_value()});
  }
  return w;
}

std::vector<int64_t> RefIds(const OsmWayNodes& w) {
  std::vector<int64_t> out;
  for (const OsmWayRef& r : w.refs) out.push_back(r.node);
  return out;
}

struct State {
  const OsmChange& change;
  Positions at;
  std::map<int64_t, OsmWayNodes> old_ways;  // the stored versions of the file's ways
  std::map<int64_t, OsmWayNodes> touched;   // stored ways, not in the file, holding its nodes
  std::unordered_map<int64_t, LatLng> walk_before;  // stored walk nodes among the file's nodes
  std::unordered_map<std::string, Poi> stored_pois;
};

Status LoadPositions(PoiStore* store, const std::vector<int64_t>& node_ids, State* s);
Status LoadStoredPois(PoiStore* store, State* s);

Status LoadState(PoiStore* store, State* s) {
  std::vector<int64_t> node_ids, way_ids;
  for (const OsmChange::Node& n : s->change.nodes) {
    node_ids.push_back(n.id);
    if (!n.visible) s->at.Delete(n.id);
    if (n.located) s->at.Set(n.id, {n.lat, n.lng});
  }
  for (const OsmChange::Way& w : s->change.ways) way_ids.push_back(w.id);
  NBI_ASSIGN_OR_RETURN(std::vector<OsmWayNodes> old, store->LoadOsmWays(way_ids));
  for (OsmWayNodes& w : old) s->old_ways.emplace(w.id, std::move(w));
  NBI_ASSIGN_OR_RETURN(std::vector<OsmWayNodes> touched, store->LoadOsmWaysOfNodes(node_ids));
  const std::set<int64_t> in_file(way_ids.begin(), way_ids.end());
  for (OsmWayNodes& w : touched) {
    if (!in_file.count(w.id)) s->touched.emplace(w.id, std::move(w));
  }
  NBI_RETURN_IF_ERROR(LoadPositions(store, node_ids, s));
  return LoadStoredPois(store, s);
}

// Stored positions: of the ways' nodes, then of walk nodes (the file's nodes and the refs of
// its ways that it does not place), then of nodes of other stored ways.
Status LoadPositions(PoiStore* store, const std::vector<int64_t>& node_ids, State* s) {
  std::vector<int64_t> ask = node_ids;
  for (const auto* ways : {&s->old_ways, &s->touched}) {
    for (const auto& [id, w] : *ways) {
      for (const OsmWayRef& r : w.refs) {
        if (r.known) s->at.Stored(r.node, {r.lat, r.lng});
      }
    }
  }
  for (const OsmChange::Way& w : s->change.ways) {
    for (int64_t ref : w.refs) {
      if (!s->at.InFile(ref)) ask.push_back(ref);
    }
  }
  std::sort(ask.begin(), ask.end());
  ask.erase(std::unique(ask.begin(), ask.end()), ask.end());
  NBI_ASSIGN_OR_RETURN(std::vector<WalkNode> walk, store->LoadWalkNodesById(ask));
  const std::set<int64_t> file_nodes(node_ids.begin(), node_ids.end());
  for (const WalkNode& n : walk) {
    s->at.Stored(n.id, {n.lat, n.lng});
    if (file_nodes.count(n.id)) s->walk_before.emplace(n.id, LatLng{n.lat, n.lng});
  }
  // A node a way of the file newly uses, stored only as a node of another way.
  std::vector<int64_t> unknown;
  for (const OsmChange::Way& w : s->change.ways) {
    for (int64_t ref : w.refs) {
      if (!s->at.At(ref) && !s->at.Deleted(ref)) unknown.push_back(ref);
    }
  }
  if (!unknown.empty()) {
    NBI_ASSIGN_OR_RETURN(std::vector<OsmWayNodes> holders, store->LoadOsmWaysOfNodes(unknown));
    for (const OsmWayNodes& w : holders) {
      for (const OsmWayRef& r : w.refs) {
        if (r.known) s->at.Stored(r.node, {r.lat, r.lng});
      }
    }
  }
  return Status::Ok();
}

Status LoadStoredPois(PoiStore* store, State* s) {
  std::vector<std::string> poi_ids;
  for (const OsmChange::Node& n : s->change.nodes) poi_ids.push_back("n" + std::to_string(n.id));
  for (const OsmChange::Way& w : s->change.ways) poi_ids.push_back("w" + std::to_string(w.id));
  for (const auto& [id, w] : s->touched) poi_ids.push_back("w" + std::to_string(id));
  NBI_ASSIGN_OR_RETURN(std::vector<Poi> pois, store->LoadPoisById(poi_ids));
  for (Poi& p : pois) s->stored_pois.emplace(p.source_id, std::move(p));
  return Status::Ok();
}

// The POI upserts and deletes, with their old and new states in the change set.
void PlanChangePois(const State& s, ImportPlan* plan, ImportStats* stats) {
  auto upsert = [&](Poi p) {
    auto it = s.stored_pois.find(p.source_id);
    const bool stored = it != s.stored_pois.end();
    const bool same = stored && it->second.category == p.category && it->second.sub == p.sub &&
                      it->second.lat == p.lat && it->second.lng == p.lng;
    if (same && it->second.name == p.name) return;  // unchanged
    if (!same) {                                    // a new name alone scores nothing
      if (stored) plan->changes.pois.push_back(PointOf(it->second));
      plan->changes.pois.push_back(PointOf(p));
    }
    plan->write.pois.push_back(std::move(p));
  };
  auto remove = [&](const std::string& id) {
    auto it = s.stored_pois.find(id);
    if (it == s.stored_pois.end()) return;
    plan->write.poi_deletes.push_back(id);
    plan->changes.pois.push_back(PointOf(it->second));
  };
  for (const OsmChange::Node& n : s.change.nodes) {
    const std::string id = "n" + std::to_string(n.id);
    if (n.visible && n.match && n.located) {
      upsert({id, n.match->category, n.match->sub, n.name, n.lat, n.lng});
      ++stats->nodes;
    } else {
      remove(id);
    }
  }
  for (const OsmChange::Way& w : s.change.ways) {
    const std::string id = "w" + std::to_string(w.id);
    std::optional<LatLng> p = w.visible && w.match ? Place(w.refs, s.at) : std::nullopt;
    if (p) {
      upsert({id, w.match->category, w.match->sub, w.name, p->lat, p->lng});
      ++stats->ways;
    } else {
      if (w.visible && w.match) ++stats->ways_not_placed;  // none of its nodes is known
      remove(id);  // deleted, no category any more, or not placed
    }
  }
  // A stored way POI whose node moved moves with it.
  for (const auto& [way, w] : s.touched) {
    auto it = s.stored_pois.find("w" + std::to_string(way));
    if (it == s.stored_pois.end()) continue;
    std::optional<LatLng> p = Place(RefIds(w), s.at);
    if (!p) continue;
    Poi moved = it->second;
    moved.lat = p->lat;
    moved.lng = p->lng;
    upsert(std::move(moved));
  }
}

// Consecutive node pairs of a walk way, both ends placed: its edges.
void WayEdges(const std::vector<int64_t>& refs, int cls, const Positions& at,
              std::map<Pair, WalkEdge>* out) {
  for (size_t k = 1; k < refs.size(); ++k) {
    if (refs[k - 1] == refs[k]) continue;
    const std::optional<LatLng> a = at.At(refs[k - 1]), b = at.At(refs[k]);
    if (!a || !b) continue;
    const Pair e = Ordered(refs[k - 1], refs[k]);
    (*out)[e] = {e.first, e.second, HaversineMeters(*a, *b), static_cast<uint8_t>(cls)};
  }
}

// The walk network: edges of the file's walk ways (new or changed), edges of its ways' old
// versions that are gone, walk nodes deleted or moved (their stored edges re-measured).
void PlanChangeWalk(const State& s, ImportPlan* plan) {
  std::vector<LatLng>& points = plan->changes.walk_points;
  std::map<Pair, WalkEdge> edges;  // to upsert
  std::set<Pair> old_pairs;
  std::unordered_map<int64_t, LatLng> old_at;
  for (const auto& [id, w] : s.old_ways) {
    for (size_t k = 0; k < w.refs.size(); ++k) {
      if (w.refs[k].known) old_at[w.refs[k].node] = {w.refs[k].lat, w.refs[k].lng};
      if (w.cls >= 0 && k > 0 && w.refs[k - 1].node != w.refs[k].node) {
        old_pairs.insert(Ordered(w.refs[k - 1].node, w.refs[k].node));
      }
    }
  }
  for (const OsmChange::Way& w : s.change.ways) {
    if (w.visible && w.walk_class >= 0) WayEdges(w.refs, w.walk_class, s.at, &edges);
  }
  std::set<int64_t> moved;
  for (const auto& [id, before] : s.walk_before) {
    const std::optional<LatLng> now = s.at.At(id);
    if (!now) {
      plan->write.node_deletes.push_back(id);  // with its edges (the store reports their ends)
      points.push_back(before);
    } else if (now->lat != before.lat || now->lng != before.lng) {
      moved.insert(id);
      points.push_back(before);
      points.push_back(*now);
    }
  }
  // Stored walk ways not in the file: their edges at a moved node take the new length.
  for (const auto& [id, w] : s.touched) {
    if (w.cls < 0) continue;
    const std::vector<int64_t> refs = RefIds(w);
    std::map<Pair, WalkEdge> all;
    WayEdges(refs, w.cls, s.at, &all);
    for (auto& [e, edge] : all) {
      if (moved.count(e.first) || moved.count(e.second)) edges.emplace(e, edge);
    }
  }
  for (const auto& [e, edge] : edges) {
    const bool same = old_pairs.count(e) && !moved.count(e.first) && !moved.count(e.second) &&
                      !s.at.InFile(e.first) && !s.at.InFile(e.second);
    if (same) continue;
    for (int64_t id : {e.first, e.second}) points.push_back(*s.at.At(id));
  }
  for (const Pair& e : old_pairs) {
    if (edges.count(e) || s.at.Deleted(e.first) || s.at.Deleted(e.second)) continue;
    plan->write.edge_deletes.push_back(e);
    for (int64_t id : {e.first, e.second}) {
      if (auto it = old_at.find(id); it != old_at.end()) points.push_back(it->second);
    }
  }
  std::sort(plan->write.node_deletes.begin(), plan->write.node_deletes.end());
  WalkNetwork& net = plan->write.network;
  for (const auto& [e, edge] : edges) {
    net.edges.push_back(edge);
    for (int64_t id : {e.first, e.second}) {
      const LatLng p = *s.at.At(id);
      net.nodes.push_back({id, p.lat, p.lng});
    }
  }
  for (int64_t id : moved) {
    const LatLng p = *s.at.At(id);
    net.nodes.push_back({id, p.lat, p.lng});
  }
  std::sort(net.nodes.begin(), net.nodes.end(),
            [](const WalkNode& a, const WalkNode& b) { return a.id < b.id; });
  net.nodes.erase(std::unique(net.nodes.begin(), net.nodes.end(),
                              [](const WalkNode& a, const WalkNode& b) { return a.id == b.id; }),
                  net.nodes.end());
}

// The stored node lists: the file's ways as they are now, stored ways whose nodes moved.
void PlanChangeWays(const State& s, ImportPlan* plan) {
  for (const OsmChange::Way& w : s.change.ways) {
    if (w.visible && (w.match || w.walk_class >= 0)) {
      plan->write.ways.push_back(WayRows(w.id, w.walk_class, w.refs, s.at));
    } else {
      plan->write.way_deletes.push_back(w.id);
    }
  }
  for (const auto& [id, w] : s.touched)
    plan->write.ways.push_back(WayRows(id, w.cls, RefIds(w), s.at));
}

}  // namespace

Result<ImportPlan> PlanChange(PoiStore* store, const OsmChange& change, ImportStats* stats) {
  State s{change, {}, {}, {}, {}, {}};
  NBI_RETURN_IF_ERROR(LoadState(store, &s));
  ImportPlan plan;
  PlanChangePois(s, &plan, stats);
  PlanChangeWalk(s, &plan);
  PlanChangeWays(s, &plan);
  return plan;
}

}  // namespace nbi
