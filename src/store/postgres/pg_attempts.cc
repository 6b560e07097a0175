// PgStore: the attempt history of jobs (JobQueue::ListAttempts). FailPart and the rescues
// append rows through InsertAttempt; they go with their job (ON DELETE CASCADE).
#include "store/postgres/pg_attempts.h"

#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"

namespace nbi {

Status InsertAttempt(PgConn& c, const JobAttempt& a) {
  return c
      .Exec(kInsertAttempt, PgParams()
                                .Int(a.job_id)
                                .Int(a.part)
                                .Int(a.attempt)
                                .Int(a.at_ms)
                                .Text(a.worker)
                                .Text(a.error)
                                .Text(a.outcome))
      .status();
}

Result<std::vector<JobAttempt>> PgStore::ListAttempts(int64_t job_id) {
  using Out = std::vector<JobAttempt>;
  return WithReadConn<Out>(*pool_, [&](PgConn& c) -> Result<Out> {
    NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kListAttempts, PgParams().Int(job_id)));
    Out out;
    for (int i = 0; i < r.size(); ++i) {
      JobAttempt a;
      a.job_id = r.i64(i, 0);
      a.part = static_cast<int>(r.i64(i, 1));
      a.attempt = static_cast<int>(r.i64(i, 2));
      a.at_ms = r.i64(i, 3);
      a.worker = r.null(i, 4) ? "" : r.str(i, 4);
      a.error = r.str(i, 5);
      a.outcome = r.str(i, 6);
      out.push_back(std::move(a));
    }
    return out;
  });
}

}  // namespace nbi
