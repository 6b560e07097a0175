// PostgreSQL store: a chunk's checkpoint (WriteCheckpoint, StageCheckpoint). A chunk is
// staged in a transaction of its own (the cells go in by binary COPY) and committed with the
// part's and the job's checkpoint in one more round trip, so that a part's next chunk can
// travel to the server while this one commits.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/postgres/pg_batch.h"
#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_queue_txn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"
#include "store/postgres/pg_tiles.h"
#include "store/queue_steps.h"
#include "tiles/tiles.h"

namespace nbi {

namespace {

// The chunk's cells as one binary COPY stream (empty for an empty chunk).
PgBinaryCopy EncodeChunk(const Checkpoint& cp, int64_t now) {
  PgBinaryCopy copy;
  if (cp.count() == 0) return copy;
  copy.Reserve(static_cast<size_t>(cp.count()) * 54 + 32);
  copy.Header();
  std::optional<int32_t> city;
  if (cp.city_id) city = static_cast<int32_t>(*cp.city_id);
  EncodeCells(*cp.region, cp.begin, cp.scores, city, now, cp.model, &copy);
  copy.Trailer();
  return copy;
}

// Inside a transaction of several checkpoints (WriteCheckpoints), one checkpoint is a
// savepoint: released where a chunk of its own would commit, rolled back alone if refused.
inline constexpr PgSql kSavepointSql{nullptr, "SAVEPOINT nbi_checkpoint"};
inline constexpr PgSql kReleaseSql{nullptr, "RELEASE SAVEPOINT nbi_checkpoint"};
inline constexpr const char* kRollbackToSql = "ROLLBACK TO SAVEPOINT nbi_checkpoint";

// A chunk whose cells are in an open transaction on its own connection or, with `nested`,
// in a savepoint of the connection's open transaction.
class PgStagedCheckpoint final : public StagedCheckpoint {
 public:
  PgStagedCheckpoint(PgLease lease, const Checkpoint& cp, int64_t now)
      : lease_(std::move(lease)), c_(**lease_), txn_(c_), cp_(cp), now_(now), nested_(false) {}
  // In a batch's transaction; with `tail`, a job of one part leaves its cells and overview
  // levels to the batch's tail.
  PgStagedCheckpoint(PgConn& c, const Checkpoint& cp, int64_t now, PgBatchTail* tail)
      : c_(c), txn_(c_), cp_(cp), now_(now), nested_(true), tail_(tail) {}

  // Sends the cells: BEGIN, the owner and range check and the chunk's DELETE in one round
  // trip, then the COPY. The part's row is not locked: Commit checks the owner under it.
  Status Stage();
  Result<bool> Commit() override;

 private:
  // The rest of the part's completion in the checkpoint's transaction, after kCompleteSolo
  // answered `solo` (the overview lock of the chunk's step and model held): the overview
  // levels of a job of one part, their version bump sent with COMMIT, else the general path;
  // then the commit. Returns whether the job completed.
  Result<bool> CompleteIn(const PgRows& solo);
  // The rest of Commit once its statements succeeded: rows[at] the checkpoint's, rows[at + 2]
  // kCompleteSolo's or COMMIT's.
  Result<bool> Committed(const std::vector<PgRows>& rows, size_t at);
  // The caller's error for a checkpoint statement that failed with `s`.
  Status Refused(const Status& s) const;
  PgParams CheckpointParams() const;
  PgParams SoloParams() const;

 private:
  // Ends the chunk's transaction (or savepoint) after its last statements succeeded.
  Status End();
  const PgSql& EndSql() const { return nested_ ? kReleaseSql : kCommitSql; }
  const PgSql& BeginSql() const { return nested_ ? kSavepointSql : kBeginSql; }

  std::optional<PgLease> lease_;  // unless nested
  PgConn& c_;
  PgTxn txn_;  // after lease_: rolls back (unless committed) before the lease goes back
  const Checkpoint cp_;
  const int64_t now_;
  const bool nested_;
  PgBatchTail* const tail_ = nullptr;
  bool deferred_ = false;  // the cells wait in tail_ (Stage sent only the DELETE)
};

Status PgStagedCheckpoint::End() {
  if (nested_) return c_.Exec(kReleaseSql.text, "release savepoint").status();
  return txn_.Commit();
}

Status PgStagedCheckpoint::Stage() {
  PgConn& c = c_;
  const int64_t count = cp_.count();
  const int64_t end = cp_.begin + count;
  // One COPY stream serves both write paths below (same column layout).
  PgBinaryCopy copy = EncodeChunk(cp_, now_);
  // Fast path: delete whatever this chunk's cells held and COPY straight into heat_cells
  // (a fresh area deletes nothing). Measured at 1.5-2.5x the speed of COPY into a staging
  // table plus INSERT ... ON CONFLICT DO UPDATE, and close to a bare COPY. Only a concurrent
  // writer of the same cells (an overlapping job committing between our DELETE and COPY)
  // makes the COPY hit the unique index; then the whole chunk is redone as that upsert,
  // which tolerates anything.
  for (bool upsert : {false, true}) {
    if (upsert) {
      if (nested_) {
        // The batch created the staging table before its transaction (WriteCheckpoints);
        // rows an earlier checkpoint of the batch staged stay until the batch commits.
        NBI_RETURN_IF_ERROR(c.Exec(kRollbackToSql, "rollback to savepoint").status());
        NBI_RETURN_IF_ERROR(c.Exec(kReleaseSql.text, "release savepoint").status());
      } else {
        NBI_RETURN_IF_ERROR(txn_.Rollback());
        NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.cell_stage_ready, kCreateCellStage));
      }
    }
    const PgParams part_params = PgParams().Int(cp_.job_id).Int(cp_.part).Text(cp_.worker_id);
    const PgParams delete_params = PgChunkCellsParams(*cp_.region, cp_.begin, end, cp_.model);
    const bool fresh_write = count > 0 && !upsert;
    auto first = fresh_write ? c.Pipeline({{&BeginSql(), nullptr},
                                           {&kStageIdleTimeout, nullptr},
                                           {&kStagePart, &part_params},
                                           {&kDeleteChunkCells, &delete_params}})
                             : c.Pipeline({{&BeginSql(), nullptr},
                                           {&kStageIdleTimeout, nullptr},
                                           {&kStagePart, &part_params}});
    // Rolled back unless committed, even after an error (nested: by the batch).
    if (!nested_ && !c.idle()) txn_.MarkBegun();
    if (!first.ok()) return first.status();
    const PgRows& part = (*first)[2];
    if (part.size() == 0) return NotOwner(cp_.job_id, cp_.worker_id);
    if (cp_.begin < part.i64(0, 0) || end > part.i64(0, 1)) {
      return Status::Invalid(fmt::format("checkpoint of job {}: cells [{}, {}) outside its part",
                                         cp_.job_id, cp_.begin, end));
    }
    // A job of one part (its part is the whole region) in a batch with a tail.
    if (fresh_write && tail_ && part.i64(0, 0) == 0 && part.i64(0, 1) == cp_.region->cell_count()) {
      deferred_ = true;
      return Status::Ok();
    }
    if (fresh_write) {
      Status st = c.CopyIn(kCopyCells, copy.data());
      if (st.code() == StatusCode::kConflict) continue;  // redo as an upsert
      return st;
    }
    if (count == 0) return Status::Ok();
    if (nested_) NBI_RETURN_IF_ERROR(c.Exec("DELETE FROM nbi_cell_stage", "clear stage").status());
    NBI_RETURN_IF_ERROR(c.CopyIn(kCopyCellStage, copy.data()));
    Status up = c.Exec(kUpsertCellsFromStage).status();
    // The upsert resolves conflicts on the cells' own key, so a unique violation here comes
    // from another unique index on heat_cells (such as the original app's on (lat, lng,
    // grid_step), SPEC §2a): a database error that fails the attempt, never a lost lease.
    if (up.code() == StatusCode::kConflict) {
      return Status::Internal(
          fmt::format("writing the cells of job {}: {}", cp_.job_id, up.message()));
    }
    return up;
  }
  return Status::Internal("unreachable");
}

PgParams PgStagedCheckpoint::CheckpointParams() const {
  return PgParams()
      .Int(cp_.job_id)
      .Int(cp_.part)
      .Text(cp_.worker_id)
      .Int(cp_.begin + cp_.count())
      .Int(now_)
      .Int(cp_.begin);
}

// The part's last chunk completes it in the checkpoint's trip: kCompleteSolo and the overview
// lock of its cells. Its position check ($6) is the chunk's end: the checkpoint before it in
// this transaction has just moved the part there.
PgParams PgStagedCheckpoint::SoloParams() const {
  return PgParams()
      .Int(cp_.job_id)
      .Int(cp_.part)
      .Text(cp_.worker_id)
      .Int(now_)
      .Bool(true)
      .Int(cp_.begin + cp_.count());
}

Status PgStagedCheckpoint::Refused(const Status& s) const {
  // NB002 (nbi_require_position): the part's stored next index is not this chunk's begin.
  if (c_.last_sqlstate == "NB002") {
    return Status::Conflict(fmt::format("job {} part {}: {}", cp_.job_id, cp_.part, s.message()))
        .WithReason(std::string(kPositionMovedReason));
  }
  // NB003 (nbi_require_data_version): an import committed since the chunk's index loaded.
  if (c_.last_sqlstate == "NB003") {
    return Status::Conflict(fmt::format("job {} part {}: {}", cp_.job_id, cp_.part, s.message()))
        .WithReason(std::string(kDataChangedReason));
  }
  if (s.code() == StatusCode::kConflict) return NotOwner(cp_.job_id, cp_.worker_id);
  return s;
}

Result<bool> PgStagedCheckpoint::Commit() {
  // The checkpoint, the tiles' version blocks and COMMIT (or the completion) in one round
  // trip; a refused checkpoint raises NB001 (kConflict), which aborts the transaction and
  // skips the rest.
  const PgParams params = CheckpointParams();
  const PgParams bump = PgTilesBumpParams(cp_);  // tiles hook: version blocks (same trip)
  const PgParams solo = SoloParams();
  const PgParams lock = PgOverviewLockParams(cp_.region->step(), cp_.model);
  // The data version first (its lock before any row's, the order of a batch's check).
  const PgParams version = PgParams().OptInt(cp_.data_version);
  std::vector<PgConn::Step> steps;
  if (cp_.data_version) steps.push_back({&kRequireDataVersion, &version});
  const size_t at = steps.size();
  steps.push_back({&kCommitCheckpoint, &params});
  steps.push_back({&kPgBumpAreaVersions, &bump});
  if (cp_.complete) {
    steps.push_back({&kCompleteSolo, &solo});
    steps.push_back({&kPgOverviewLock, &lock});
  } else {
    steps.push_back({&EndSql(), nullptr});
  }
  auto last = c_.Pipeline(steps);
  if (!last.ok()) return Refused(last.status());
  return Committed(*last, at);
}

Result<bool> PgStagedCheckpoint::Committed(const std::vector<PgRows>& rows, size_t at) {
  if (deferred_) tail_->AddCells(cp_);
  if (cp_.complete) {
    NBI_ASSIGN_OR_RETURN(const bool job_done, CompleteIn(rows[at + 2]));
    *cp_.complete = {true, job_done};
  } else if (!nested_) {
    txn_.MarkCommitted();
    // The server answers COMMIT of an aborted transaction with a successful "ROLLBACK".
    if (rows[at + 2].command_tag() != "COMMIT") {
      return Status::Internal("postgres commit: rolled back");
    }
  }
  const PgRows& r = rows[at];
  const bool cancel_requested = r.boolean(0, 0);
  const int64_t done = r.i64(0, 1);
  if (cp_.progress) *cp_.progress = {done - r.i64(0, 2), done};
  return cancel_requested;
}

Result<bool> PgStagedCheckpoint::CompleteIn(const PgRows& solo) {
  PgConn& c = c_;
  if (solo.size() == 0) {  // a job of several parts
    PgQueueTxn t(c);
    NBI_ASSIGN_OR_RETURN(const bool job_done, CompletePartIn(t, cp_.job_id, cp_.part, cp_.worker_id,
                                                             now_, cp_.begin + cp_.count()));
    NBI_RETURN_IF_ERROR(End());
    return job_done;
  }
  if (solo.null(0, kPgPartColumns)) return Status::Internal("completed part of a stopped job");
  if (deferred_) {
    // The tail rebuilds the levels; the savepoint stays (a batch's are released at COMMIT).
    const JobPart part = ReadPart(solo, 0);
    if (auto area = OverviewAreaOfPart(ReadJob(solo, 0, kPgPartColumns), part.begin, part.next)) {
      tail_->AddArea(*area);
    }
    return true;
  }
  NBI_ASSIGN_OR_RETURN(
      std::optional<PgParams> bump,
      PgTilesOnPartCompletedLocked(c, ReadJob(solo, 0, kPgPartColumns), ReadPart(solo, 0),
                                   cp_.region->step(), cp_.model));
  if (!bump) {
    NBI_RETURN_IF_ERROR(End());
    return true;
  }
  NBI_ASSIGN_OR_RETURN(auto done,
                       c.Pipeline({{&kPgBumpAreaVersions, &*bump}, {&EndSql(), nullptr}}));
  if (nested_) return true;
  txn_.MarkCommitted();
  if (done[1].command_tag() != "COMMIT") return Status::Internal("postgres commit: rolled back");
  return true;
}

// A batch's data version check (kCommitCheckpoint's, once for the batch): the version read
// under the checkpoints' shared lock, held to the batch's COMMIT; each checkpoint in `todo`
// whose index was loaded at another is refused and taken out.
Status RefuseChangedData(PgConn& c, std::span<const Checkpoint> cps, std::vector<size_t>* todo,
                         std::vector<Result<bool>>* out) {
  const bool any = std::any_of(todo->begin(), todo->end(),
                               [&](size_t i) { return cps[i].data_version.has_value(); });
  if (!any) return Status::Ok();
  NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kDataVersionLocked));
  const int64_t stored = r.i64(0, 0);
  std::erase_if(*todo, [&](size_t i) {
    const Checkpoint& cp = cps[i];
    if (!cp.data_version || *cp.data_version == stored) return false;
    (*out)[i] = DataChanged(cp.job_id, cp.part, *cp.data_version, stored);
    return true;
  });
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<StagedCheckpoint>> PgStore::StageCheckpoint(const Checkpoint& cp) {
  const int64_t count = cp.count();
  if (!cp.region || cp.begin < 0 || cp.begin + count > cp.region->cell_count()) {
    return Status::Invalid(fmt::format("checkpoint of job {}: cells [{}, {}) outside its region",
                                       cp.job_id, cp.begin, cp.begin + count));
  }
  NBI_RETURN_IF_ERROR(PgCheckCityId(cp.city_id));
  NBI_ASSIGN_OR_RETURN(PgLease lease, pool_->Acquire());
  auto staged = std::make_unique<PgStagedCheckpoint>(std::move(lease), cp, clock_->NowMs());
  NBI_RETURN_IF_ERROR(staged->Stage());
  return std::unique_ptr<StagedCheckpoint>(std::move(staged));
}

Result<std::vector<Result<bool>>> PgStore::WriteCheckpoints(std::span<const Checkpoint> cps) {
  std::vector<Result<bool>> out(cps.size(), Result<bool>(false));
  std::vector<size_t> todo;
  for (size_t i = 0; i < cps.size(); ++i) {
    const Checkpoint& cp = cps[i];
    if (!cp.region || cp.begin < 0 || cp.begin + cp.count() > cp.region->cell_count()) {
      out[i] =
          Status::Invalid(fmt::format("checkpoint of job {}: cells [{}, {}) outside its region",
                                      cp.job_id, cp.begin, cp.begin + cp.count()));
    } else if (Status city = PgCheckCityId(cp.city_id); !city.ok()) {
      out[i] = city;
    } else {
      todo.push_back(i);
    }
  }
  if (todo.empty()) return out;
  // One transaction, one savepoint per checkpoint: one refused (not the owner, position moved)
  // is rolled back alone; the database failing ends the batch with nothing written.
  NBI_ASSIGN_OR_RETURN(PgLease lease, pool_->Acquire());
  PgConn& c = *lease;
  // The upsert path's staging table, outside the transaction (a rolled-back CREATE would
  // leave the connection believing it exists).
  NBI_RETURN_IF_ERROR(c.EnsureTempTable(&c.cell_stage_ready, kCreateCellStage));
  PgTxn txn(c);
  NBI_RETURN_IF_ERROR(txn.Begin());
  const int64_t now = clock_->NowMs();
  NBI_RETURN_IF_ERROR(RefuseChangedData(c, cps, &todo, &out));
  PgBatchTail tail(now);
  // The jobs of one chunk in one statement (those whose cells another of them holds go the
  // general way below, after it); the rest a savepoint each.
  std::vector<size_t> rest, whole_at;
  std::vector<const Checkpoint*> whole;
  for (size_t i : todo) {
    const bool apart = std::none_of(whole.begin(), whole.end(),
                                    [&](const Checkpoint* w) { return CellsOverlap(*w, cps[i]); });
    if (IsWholeJobChunk(cps[i]) && apart) {
      whole.push_back(&cps[i]);
      whole_at.push_back(i);
    } else {
      rest.push_back(i);
    }
  }
  std::vector<Result<bool>> whole_out;
  NBI_RETURN_IF_ERROR(PgWriteWholeJobs(c, whole, now, &tail, &whole_out));
  for (size_t k = 0; k < whole.size(); ++k) out[whole_at[k]] = std::move(whole_out[k]);
  for (size_t i : rest) {
    if (tail.Overlaps(cps[i])) NBI_RETURN_IF_ERROR(tail.FlushCells(c));
    PgStagedCheckpoint one(c, cps[i], now, &tail);
    Status staged = one.Stage();
    Result<bool> r = staged.ok() ? one.Commit() : Result<bool>(staged);
    if (!r.ok()) {
      const StatusCode code = r.status().code();
      if (code != StatusCode::kConflict && code != StatusCode::kInvalidArgument) {
        return r.status();
      }
      NBI_RETURN_IF_ERROR(c.Exec(kRollbackToSql, "rollback to savepoint").status());
      NBI_RETURN_IF_ERROR(c.Exec(kReleaseSql.text, "release savepoint").status());
    }
    out[i] = std::move(r);
  }
  NBI_RETURN_IF_ERROR(tail.Flush(c));
  NBI_RETURN_IF_ERROR(txn.Commit());
  return out;
}

Result<bool> PgStore::WriteCheckpoint(const Checkpoint& cp) {
  NBI_ASSIGN_OR_RETURN(std::unique_ptr<StagedCheckpoint> staged, StageCheckpoint(cp));
  return staged->Commit();
}

}  // namespace nbi
