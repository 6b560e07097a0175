// Helpers of both stores for the walk network's rows (PoiStore::UpsertPois with a network,
// LoadWalkNetwork). Internal to src/store.
#pragma once

#include <vector>

#include "common/status.h"
#include "common/walk_network.h"

namespace nbi {

// kInvalidArgument unless `network` keeps the WalkNetwork invariants (nodes sorted by id and
// unique, edges sorted by (a, b) and unique with a < b, both ends among the nodes) with
// finite positions and lengths. Checked before a write: the stores' upserts rely on it (one
// statement may not touch a row twice) and a half-connected edge must not be stored.
Status CheckWalkNetwork(const WalkNetwork& network);

// Sorts nodes by id and keeps one node per id (rows of a join name a node once per edge).
void SortUniqueWalkNodes(std::vector<WalkNode>* nodes);
// Sorts edges by (a, b): the load queries leave the order to us, which is cheaper than an
// ORDER BY over the join (a sort of every row in the database's temporary storage).
void SortWalkEdges(std::vector<WalkEdge>* edges);

// The network of a box from two plain reads instead of a join of each edge with both its ends
// in the database: `nodes`, every node in the box (unique ids, any order), and `edges`, every
// edge whose end a is in the box (any order, maybe more). Keeps the edges whose ends are both
// among `nodes`, and of the nodes those that end a kept edge. Already sorted input (as a
// table read in its insertion order usually is) is not sorted again.
WalkNetwork JoinWalkNetwork(std::vector<WalkNode> nodes, std::vector<WalkEdge> edges);

}  // namespace nbi
