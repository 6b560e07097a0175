#include "store/sqlite/sqlite_sql.h"
#include "store/store_kinds.h"

namespace nbi {

int SqliteSchemaVersion() { return sql::kSchemaVersion; }

}  // namespace nbi
