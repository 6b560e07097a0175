#include "store/sqlite/sqlite_owner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "poi/poi.h"

namespace nbi {

namespace {

// A file name for any worker id: safe characters kept, the rest replaced, plus a hash so
// that two ids differing only in replaced characters do not share a file.
std::string LockFileName(const std::string& worker_id) {
  std::string safe;
  for (char c : worker_id.substr(0, 100)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    safe += ok ? c : '_';
  }
  // FNV-1a: the same in every build (std::hash is not), so binaries of different versions
  // side by side name a worker's lock file alike.
  return fmt::format("{}-{:016x}.lock", safe, Fnv1a64(worker_id));
}

}  // namespace

std::string OwnerLockDir(const std::string& db_path) { return db_path + ".owners"; }

Result<std::unique_ptr<SqliteOwnerLease>> SqliteOwnerLease::Hold(const std::string& db_path,
                                                                 const std::string& worker_id) {
  const std::string dir = OwnerLockDir(db_path);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::Internal(fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
  }
  const std::string file = dir + "/" + LockFileName(worker_id);
  int fd = open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Internal(fmt::format("cannot open {}: {}", file, std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Conflict(fmt::format("worker id {} is held by a live process", worker_id));
    }
    return Status::Internal(fmt::format("cannot lock {}: {}", file, std::strerror(err)));
  }
  return std::unique_ptr<SqliteOwnerLease>(new SqliteOwnerLease(file, fd));
}

SqliteOwnerLease::~SqliteOwnerLease() {
  unlink(file_.c_str());
  close(fd_);
}

void RemoveDeadOwnerFile(const std::string& db_path, const std::string& worker_id) {
  unlink((OwnerLockDir(db_path) + "/" + LockFileName(worker_id)).c_str());
}

bool OwnerAlive(const std::string& db_path, const std::string& worker_id) {
  const std::string file = OwnerLockDir(db_path) + "/" + LockFileName(worker_id);
  int fd = open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;  // never held, or its owner ended cleanly
  bool alive = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);  // also drops the lock we may just have taken
  return alive;
}

}  // namespace nbi
