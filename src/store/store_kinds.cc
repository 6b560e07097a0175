#include "store/store_kinds.h"

namespace nbi {

std::vector<StoreKind> CompiledStoreKinds() {
  return {{"sqlite", SqliteSchemaVersion()}, {"postgresql", PgSchemaVersion()}};
}

}  // namespace nbi
