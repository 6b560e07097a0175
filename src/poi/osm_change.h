// OSM change files (.osc, .osc.gz, .osc.bz2: osmChange XML, as OSM publishes minutely to
// daily), read with libosmium: the last state of every node and way the file names, as the
// change importer (jobs/refresh.h ApplyChangeFile) needs it. Relations are not read (SPEC §4
// POIs are nodes and ways).
//
// A node or way inside <delete> is not visible; one inside <create> or <modify> is visible
// with its full new state (an OSM change carries every tag and node of a modified object).
// When the file names an object more than once, the state with the highest version wins (the
// later one on a tie).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "poi/poi.h"

namespace nbi {

struct OsmChange {
  struct Node {
    int64_t id = 0;
    bool visible = true;
    bool located = false;  // a visible node with a valid location
    double lat = 0, lng = 0;
    std::optional<CategoryMatch> match;  // its SPEC §4 category, if its tags give one
    std::string name;
  };
  struct Way {
    int64_t id = 0;
    bool visible = true;
    std::vector<int64_t> refs;
    std::optional<CategoryMatch> match;
    std::string name;
    int walk_class = -1;  // poi/walk_ways.h WalkClassOf for a walk way (IsWalkWay), else -1
  };
  std::vector<Node> nodes;  // by id, one per id
  std::vector<Way> ways;    // by id, one per id
};

// True for the file names ReadOsmChange reads (.osc, .osc.gz, .osc.bz2; any case).
bool IsOsmChangePath(const std::string& path);

// Reads a change file. kInvalidArgument naming the file for unreadable or malformed input.
Result<OsmChange> ReadOsmChange(const std::string& path);

}  // namespace nbi
