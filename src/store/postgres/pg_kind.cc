#include "store/postgres/pg_sql.h"
#include "store/store_kinds.h"

namespace nbi {

int PgSchemaVersion() { return kSchemaVersion; }

}  // namespace nbi
