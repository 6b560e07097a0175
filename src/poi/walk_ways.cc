// The walk network's way selection (SPEC §4a); see walk_ways.h.
#include "poi/walk_ways.h"

#include <array>
#include <string_view>

namespace nbi {

namespace {

// The highway values people walk along (SPEC §4a). Motorways and trunks are not among them:
// most countries ban walking on them.
constexpr std::array<std::string_view, 14> kWalkHighways = {
    "footway",      "path",  "pedestrian", "steps", "living_street", "residential", "service",
    "unclassified", "track", "cycleway",   "road",  "tertiary",      "secondary",   "primary",
};

bool IsWalkHighway(std::string_view value) {
  // "primary_link" and the like are the short connectors of the listed roads.
  constexpr std::string_view kLink = "_link";
  if (value.size() > kLink.size() && value.ends_with(kLink)) {
    value.remove_suffix(kLink.size());
  }
  for (std::string_view h : kWalkHighways) {
    if (value == h) return true;
  }
  return false;
}

bool IsOneOf(std::string_view value, std::initializer_list<std::string_view> set) {
  for (std::string_view v : set) {
    if (value == v) return true;
  }
  return false;
}

}  // namespace

uint8_t WalkClassOf(std::string_view highway) {
  constexpr std::string_view kLink = "_link";
  if (highway.size() > kLink.size() && highway.ends_with(kLink))
    highway.remove_suffix(kLink.size());
  if (IsOneOf(highway, {"primary", "secondary", "tertiary"})) return kWalkClassMajor;
  if (IsOneOf(highway, {"residential", "unclassified", "living_street", "road", "pedestrian"})) {
    return kWalkClassStreet;
  }
  return kWalkClassPath;
}

bool IsWalkWay(const WayTagGetter& tag) {
  if (!IsWalkHighway(tag("highway"))) return false;
  // A pedestrian area is a surface, not a line: its outline is no path to walk along.
  if (tag("area") == "yes") return false;
  const std::string_view foot = tag("foot");
  if (IsOneOf(foot, {"no", "private"})) return false;
  // foot= is the more specific tag: it reopens a way closed by access=.
  if (IsOneOf(tag("access"), {"no", "private"})) {
    return IsOneOf(foot, {"yes", "designated", "permissive"});
  }
  return true;
}

}  // namespace nbi
