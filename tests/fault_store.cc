#include "fault_store.h"

#include "store_test_util.h"

namespace nbi::testing {

namespace {
constexpr const char* kSqliteFault = R"sql(
CREATE TABLE test_fault (armed INTEGER NOT NULL);
INSERT INTO test_fault VALUES (0);
CREATE TRIGGER test_fault_insert AFTER INSERT ON heat_cells
  WHEN (SELECT armed FROM test_fault) = 1
  BEGIN SELECT RAISE(ABORT, 'injected commit fault'); END;
CREATE TRIGGER test_fault_update AFTER UPDATE ON heat_cells
  WHEN (SELECT armed FROM test_fault) = 1
  BEGIN SELECT RAISE(ABORT, 'injected commit fault'); END;
)sql";

constexpr const char* kPgFault = R"sql(
CREATE TABLE test_fault (armed BOOLEAN NOT NULL);
INSERT INTO test_fault VALUES (false);
CREATE FUNCTION test_fault_fn() RETURNS trigger AS $$
BEGIN
  IF (SELECT armed FROM test_fault) THEN
    RAISE EXCEPTION 'injected commit fault' USING ERRCODE = '40001';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER test_fault_commit AFTER INSERT OR UPDATE ON heat_cells
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fault_fn();
)sql";

bool IsSqlite(const std::string& url) { return url.rfind("sqlite:", 0) == 0; }
}  // namespace

FaultStore::FaultStore(Store* inner, std::string url) : inner_(inner), url_(std::move(url)) {
  ExecSql(url_, IsSqlite(url_) ? kSqliteFault : kPgFault);
}

void FaultStore::Arm(bool on) {
  if (IsSqlite(url_)) {
    ExecSql(url_, on ? "UPDATE test_fault SET armed = 1" : "UPDATE test_fault SET armed = 0");
  } else {
    ExecSql(url_,
            on ? "UPDATE test_fault SET armed = true" : "UPDATE test_fault SET armed = false");
  }
}

Result<bool> FaultStore::WriteCheckpoint(const Checkpoint& cp) {
  const bool fail = fail_at_ > 0 && ++checkpoints_ == fail_at_;
  if (!fail) return inner_->WriteCheckpoint(cp);
  Arm(true);
  auto r = inner_->WriteCheckpoint(cp);
  Arm(false);
  return r;
}

}  // namespace nbi::testing
