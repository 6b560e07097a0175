// Owner leases of the PostgreSQL store: a session-level advisory lock on the worker id's
// 64-bit hash (kOwnerLock), held on a dedicated connection for the lease's life. The server
// drops it when the session ends (process killed, machine gone: once TCP notices), so
// kRescueDeadOwners sees a dead owner at once. Check() reconnects and locks again after the
// connection broke (a server restart); meanwhile the owner's jobs may have been rescued,
// which the lease checks of every write then report as kConflict.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/postgres/pg_conn.h"
#include "store/store.h"

namespace nbi {

class PgOwnerLease final : public OwnerLease {
 public:
  static Result<std::unique_ptr<PgOwnerLease>> Hold(const std::string& conninfo,
                                                    const std::string& worker_id);
  ~PgOwnerLease() override;  // unlocks, then closes the session
  Status Check() override;

 private:
  PgOwnerLease(std::string conninfo, std::string worker_id)
      : conninfo_(std::move(conninfo)), worker_id_(std::move(worker_id)) {}
  Status Lock();  // mu_ held

  const std::string conninfo_, worker_id_;
  std::mutex mu_;
  std::unique_ptr<PgConn> conn_;  // guarded by mu_; closing it releases the lock
};

}  // namespace nbi
