// SqliteStore: the attempt history of jobs (job_attempts, schema v6). Internal to
// src/store/sqlite.
#pragma once

#include "store/job.h"
#include "store/sqlite/sqlite_db.h"

namespace nbi {

// Appends one row in the caller's transaction.
Status InsertAttempt(SqliteConn& c, const JobAttempt& a);

}  // namespace nbi
