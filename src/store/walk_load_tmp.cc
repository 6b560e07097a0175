#include "store/store.h"
namespace nbi {
Result<WalkNetwork> LoadWalkNetworkAround(PoiStore*, const BBox&, double) {
  return Status::Internal("walk network storage not merged yet");
}
}  // namespace nbi
