// Owner leases of the SQLite store: one lock file per worker id in a directory beside the
// database ("<db>.owners/"), held with flock() for the lease's life. The kernel drops the
// lock when the process dies, however it dies, so a dead owner is seen at once. flock locks
// belong to an open file description: a second open of the same file, even in the same
// process, does not share the lock, so an owner is "alive" exactly while some process holds
// its file locked.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace nbi {

// The directory of lock files for the database at `db_path`.
std::string OwnerLockDir(const std::string& db_path);

class SqliteOwnerLease final : public OwnerLease {
 public:
  // Creates the directory and the file, and locks it. kConflict when the id is held.
  static Result<std::unique_ptr<SqliteOwnerLease>> Hold(const std::string& db_path,
                                                        const std::string& worker_id);
  ~SqliteOwnerLease() override;  // removes the file, then closes it (dropping the lock)
  Status Check() override { return Status::Ok(); }  // a held flock cannot be lost

 private:
  SqliteOwnerLease(std::string file, int fd) : file_(std::move(file)), fd_(fd) {}
  const std::string file_;
  const int fd_;
};

// True while some process holds the lease of `worker_id`; false when its file is missing or
// unlocked (the owner died or never held one).
bool OwnerAlive(const std::string& db_path, const std::string& worker_id);
// Deletes the lock file a dead owner left behind (a kill -9 skips the destructor). Only for
// owners found dead: a worker id is never used again once its process ended.
void RemoveDeadOwnerFile(const std::string& db_path, const std::string& worker_id);

}  // namespace nbi
