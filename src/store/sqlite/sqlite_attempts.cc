// SqliteStore: the attempt history of jobs (JobQueue::ListAttempts). FailPart and the rescues
// append rows through InsertAttempt; they go with their job (ON DELETE CASCADE).
#include "store/sqlite/sqlite_attempts.h"

#include "store/sqlite/sqlite_sql.h"
#include "store/sqlite/sqlite_store.h"

namespace nbi {

Status InsertAttempt(SqliteConn& c, const JobAttempt& a) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kInsertAttempt));
  return q.Int(a.job_id)
      .Int(a.part)
      .Int(a.attempt)
      .Int(a.at_ms)
      .Str(a.worker)
      .Str(a.error)
      .Str(a.outcome)
      .Run();
}

Result<std::vector<JobAttempt>> SqliteStore::ListAttempts(int64_t job_id) {
  using Out = std::vector<JobAttempt>;
  return WithConn<Out>(*readers_, [&](SqliteConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql::kListAttempts));
    q.Int(job_id);
    Out out;
    NBI_RETURN_IF_ERROR(q.Rows([&] {
      JobAttempt a;
      a.job_id = q.I(0);
      a.part = static_cast<int>(q.I(1));
      a.attempt = static_cast<int>(q.I(2));
      a.at_ms = q.I(3);
      a.worker = q.IsNull(4) ? "" : q.S(4);
      a.error = q.S(5);
      a.outcome = q.S(6);
      out.push_back(std::move(a));
    }));
    return out;
  });
}

}  // namespace nbi
