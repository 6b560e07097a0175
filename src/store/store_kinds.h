// The storage backends compiled into this program and the schema version each migrates to
// (`nearbyindex --version`).
#pragma once

#include <string>
#include <vector>

namespace nbi {

struct StoreKind {
  std::string name;        // "sqlite", "postgresql": the DATABASE_URL scheme
  int schema_version = 0;  // the newest migration of that backend
};

std::vector<StoreKind> CompiledStoreKinds();

// Each backend's newest migration (in its folder: it reads its own *_sql.h).
int SqliteSchemaVersion();
int PgSchemaVersion();

}  // namespace nbi
