#include "fault_store.h"

#include "store_test_util.h"

namespace nbi::testing {

namespace {
constexpr const char* kSqliteFault = R"sql(
CREATE TABLE test_fault (armed INTEGER NOT NULL);
INSERT INTO test_fault VALUES (0);
CREATE TRIGGER test_fault_insert AFTER INSERT ON heat_cells
  WHEN (SELECT armed FROM test_fault) > 0
  BEGIN SELECT RAISE(ABORT, 'injected commit fault'); END;
CREATE TRIGGER test_fault_update AFTER UPDATE ON heat_cells
  WHEN (SELECT armed FROM test_fault) > 0
  BEGIN SELECT RAISE(ABORT, 'injected commit fault'); END;
)sql";

constexpr const char* kPgFault = R"sql(
CREATE TABLE test_fault (armed INTEGER NOT NULL);
INSERT INTO test_fault VALUES (0);
CREATE FUNCTION test_fault_fn() RETURNS trigger AS $$
BEGIN
  IF (SELECT armed FROM test_fault) = 1 THEN
    RAISE EXCEPTION 'injected commit fault' USING ERRCODE = '40001';
  ELSIF (SELECT armed FROM test_fault) = 2 THEN
    RAISE EXCEPTION 'injected commit fault (permanent)' USING ERRCODE = 'P0001';
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
  const int mode = on ? (permanent_ ? 2 : 1) : 0;
  ExecSql(url_, "UPDATE test_fault SET armed = " + std::to_string(mode));
}

template <typename F>
Result<bool> FaultStore::CountedCommit(F&& commit) {
  const bool fail = fail_at_ > 0 && ++checkpoints_ == fail_at_;
  if (!fail) return commit();
  Arm(true);
  auto r = commit();
  Arm(false);
  return r;
}

Result<bool> FaultStore::WriteCheckpoint(const Checkpoint& cp) {
  if (before_checkpoint) before_checkpoint(cp);
  return CountedCommit([&] { return inner_->WriteCheckpoint(cp); });
}

// A chunk staged in the inner store, counted while it is open.
class FaultStore::Staged final : public StagedCheckpoint {
 public:
  Staged(FaultStore* owner, std::unique_ptr<StagedCheckpoint> inner)
      : owner_(owner), inner_(std::move(inner)) {
    const int now = ++owner_->staged_;
    for (int m = owner_->max_staged_;
         now > m && !owner_->max_staged_.compare_exchange_weak(m, now);) {
    }
  }
  ~Staged() override {
    inner_.reset();  // rolled back unless committed
    Close();
  }
  Result<bool> Commit() override {
    auto r = owner_->CountedCommit([&] { return inner_->Commit(); });
    Close();
    return r;
  }

 private:
  void Close() {
    if (open_) --owner_->staged_;
    open_ = false;
  }

  FaultStore* const owner_;
  std::unique_ptr<StagedCheckpoint> inner_;
  bool open_ = true;
};

Result<std::unique_ptr<StagedCheckpoint>> FaultStore::StageCheckpoint(const Checkpoint& cp) {
  if (before_checkpoint) before_checkpoint(cp);
  NBI_ASSIGN_OR_RETURN(std::unique_ptr<StagedCheckpoint> inner, inner_->StageCheckpoint(cp));
  return std::unique_ptr<StagedCheckpoint>(std::make_unique<Staged>(this, std::move(inner)));
}

}  // namespace nbi::testing
