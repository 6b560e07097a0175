// PgStore: the attempt history of jobs (job_attempts, schema v6). Internal to
// src/store/postgres.
#pragma once

#include "store/job.h"
#include "store/postgres/pg_conn.h"

namespace nbi {

// Appends one row in the caller's transaction.
Status InsertAttempt(PgConn& c, const JobAttempt& a);

}  // namespace nbi
