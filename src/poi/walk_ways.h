// Which OSM ways belong to the walk network (SPEC §4a), as the OSM importer reads them.
//
// Selection (IsWalkWay): a way with `highway` in footway, path, pedestrian, steps,
// living_street, residential, service, unclassified, track, cycleway, road, tertiary,
// secondary, primary or one of their `_link`s; not `area=yes`; not `foot=no|private`; not
// `access=no|private` unless `foot=yes|designated|permissive`. Each pair of consecutive
// nodes of such a way is one edge of haversine length (common/walk_network.h); a segment with
// a node missing from the extract is dropped. Ways sharing a node are connected through it.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "common/walk_network.h"

namespace nbi {

// The value of tag `key` of a way, or "" when it has none.
using WayTagGetter = std::function<std::string_view(std::string_view key)>;
// True when a way with these tags belongs to the walk network (the selection above).
bool IsWalkWay(const WayTagGetter& tag);
// The drawing class of a walk way's `highway` value (a `_link` is its road's class).
uint8_t WalkClassOf(std::string_view highway);

}  // namespace nbi
