// The schema step of the ordered claim (pg_sql.h, kMigrations v10). Internal to
// src/store/postgres.
#pragma once

namespace nbi {

// Each part carries its job's priority (claim_priority), NULL once the job can no longer be
// claimed (failed, cancelled, being cancelled). One partial index over pending parts is then
// in claim order (priority, then job: FIFO, then part) and holds only parts a claim may take:
// a claim walks it and stops at the first ready part, whatever the number of pending parts
// and however many finished parts the table holds (they are not in it). It replaces v9's
// index of pending parts (one index less to write per part update).
//
// The earliest run_at of a ready job (kNextPending: a worker's wait for a retry's backoff, after
// every claim) is read from an index in that order instead of sorting every ready job; the
// old claim index of jobs (priority, id) has no reader left.
//
// A part inserted without a claim_priority (nbi_job_without_parts: a job inserted by the
// original app, which shares the jobs table) takes its job's when the job may be claimed.
// Our own inserts (kInsertParts) set it, so the trigger does not fire for them.
inline constexpr const char* kPgClaimMigration = R"sql(
ALTER TABLE job_parts ADD COLUMN IF NOT EXISTS claim_priority INTEGER;
UPDATE job_parts p SET claim_priority = j.priority FROM jobs j
  WHERE j.id = p.job_id AND j.status IN ('pending', 'running') AND NOT j.cancel_requested;
DROP INDEX IF EXISTS job_parts_pending_idx;
CREATE INDEX IF NOT EXISTS job_parts_claim_idx ON job_parts (claim_priority DESC, job_id, part)
  WHERE status = 'pending' AND claim_priority IS NOT NULL;
DROP INDEX IF EXISTS jobs_claim_idx;
CREATE INDEX IF NOT EXISTS jobs_next_run_idx ON jobs (run_at_ms, priority DESC, id)
  WHERE ready_parts > 0;
CREATE OR REPLACE FUNCTION nbi_part_claim_priority() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.claim_priority := (SELECT priority FROM jobs WHERE id = NEW.job_id
                         AND status IN ('pending', 'running') AND NOT cancel_requested);
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS job_parts_claim_priority ON job_parts;
CREATE TRIGGER job_parts_claim_priority BEFORE INSERT ON job_parts FOR EACH ROW
  WHEN (NEW.claim_priority IS NULL) EXECUTE FUNCTION nbi_part_claim_priority();
)sql";

// The schema step that keeps delayed parts out of the claim index until they are due (pg_sql.h,
// kMigrations, after v13). A part of a job whose run_at is still ahead (scheduled with runAt or
// a delay, or waiting out a retry's backoff) has no claim_priority, so the claim's walk never
// meets it, and carries its due time in due_ms instead. A small index over due_ms alone (it
// holds only delayed parts) lets each claim move the parts that have come due into the claim
// index first (kPromoteDue): one probe that finds nothing in the common case, however many
// delayed parts wait. Without this, every claim walked past every delayed part ahead of the
// first ready one (70,000 delayed jobs: 36 ms per claim, 69,991 rows removed by its filter).
//
// Parts already waiting are moved by the database's clock: the store's clock is the database's
// (PgStore::ReadDatabaseClock). The insert trigger of the original app's parts (v13) leaves a
// delayed part alone.
inline constexpr const char* kPgDelayMigration = R"sql(
ALTER TABLE job_parts ADD COLUMN IF NOT EXISTS due_ms BIGINT;
UPDATE job_parts p SET due_ms = j.run_at_ms, claim_priority = NULL FROM jobs j
  WHERE j.id = p.job_id AND p.status = 'pending' AND p.claim_priority IS NOT NULL
  AND j.run_at_ms > (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
CREATE INDEX IF NOT EXISTS job_parts_due_idx ON job_parts (due_ms) WHERE due_ms IS NOT NULL;
DROP TRIGGER IF EXISTS job_parts_claim_priority ON job_parts;
CREATE TRIGGER job_parts_claim_priority BEFORE INSERT ON job_parts FOR EACH ROW
  WHEN (NEW.claim_priority IS NULL AND NEW.due_ms IS NULL)
  EXECUTE FUNCTION nbi_part_claim_priority();
)sql";

}  // namespace nbi
