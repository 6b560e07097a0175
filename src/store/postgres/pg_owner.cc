#include "store/postgres/pg_owner.h"

#include <fmt/format.h>

#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"

namespace nbi {

Result<std::unique_ptr<PgOwnerLease>> PgOwnerLease::Hold(const std::string& conninfo,
                                                         const std::string& worker_id) {
  std::unique_ptr<PgOwnerLease> lease(new PgOwnerLease(conninfo, worker_id));
  std::lock_guard<std::mutex> l(lease->mu_);
  NBI_RETURN_IF_ERROR(lease->Lock());
  return lease;
}

Status PgOwnerLease::Lock() {
  conn_.reset();
  NBI_ASSIGN_OR_RETURN(std::unique_ptr<PgConn> c, PgConn::Connect(conninfo_));
  NBI_ASSIGN_OR_RETURN(PgRows r, c->Exec(kOwnerLock, PgParams().Text(worker_id_)));
  if (!r.boolean(0, 0)) {
    return Status::Conflict(fmt::format("worker id {} is held by a live session", worker_id_));
  }
  conn_ = std::move(c);
  return Status::Ok();
}

PgOwnerLease::~PgOwnerLease() {
  std::lock_guard<std::mutex> l(mu_);
  if (conn_) (void)conn_->Exec(kOwnerUnlock);
}

Status PgOwnerLease::Check() {
  std::lock_guard<std::mutex> l(mu_);
  if (conn_ && conn_->Exec(kOwnerCheck).ok()) return Status::Ok();
  return Lock();
}

Result<std::unique_ptr<OwnerLease>> PgStore::HoldOwnerLease(const std::string& worker_id) {
  NBI_ASSIGN_OR_RETURN(auto lease, PgOwnerLease::Hold(conninfo_, worker_id));
  return std::unique_ptr<OwnerLease>(std::move(lease));
}

}  // namespace nbi
