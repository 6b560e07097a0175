// The job queue's statements: part of pg_sql.h (its conventions apply), which includes this
// file where the macros it uses (NBI_TS, NBI_JOB_COLUMNS, ...) are defined. Include pg_sql.h,
// never this file. Internal to src/store/postgres.
#pragma once

#ifndef NBI_JOB_COLUMNS
#error "include store/postgres/pg_sql.h instead"
#endif

// (Included inside pg_sql.h's namespace nbi.)

// ---- queue
inline constexpr PgSql kSelectJob{"select_job",
                                  "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE id = $1::bigint"};
inline constexpr PgSql kJobStatusSql{"job_status", "SELECT status FROM jobs WHERE id = $1::bigint"};
// Lock order, everywhere: a job's part rows first, then the job's row (a checkpoint locks its
// part, writes its cells and updates the job last; a claim locks parts with SKIP LOCKED, then
// their jobs). Every change of a part's state then takes the job's row before Settle reads
// the tally, so changes of one job's parts follow one another and each sees the others'.
inline constexpr PgSql kLockJob{
    "lock_job", "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE id = $1::bigint FOR UPDATE"};
// A rescue waits for its locks at most this long: long enough for the brief holds of live
// parts' checkpoints (a job's row is locked by each of them for an update and its COMMIT),
// never for a stopped process, which keeps its locks until it wakes or its session ends
// (then 55P03: that part is skipped until the next round).
inline constexpr const char* kRescueLockTimeout = "SET LOCAL lock_timeout = '250ms'";
// The NOTIFY rides in the same statement (and so the same transaction) as the insert: it is
// delivered exactly when the new job becomes visible, and only for a new job. $8: parts,
// $9: run_at, $10: type (heatmap_compute or heatmap_refresh).
inline constexpr PgSql kEnqueue{
    "enqueue",
    "WITH ins AS (INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, "
    "created_at, attempts, max_attempts, priority, run_at_ms, dedupe_key, part_count, "
    "ready_parts) "
    "VALUES ($10::text, 'pending', $1::int, 0, $2::int, $3::jsonb, " NBI_TS("$4")
    ", 0, $5::int, $6::int, $9::bigint, $7::text, $8::int, $8::int) "
    "ON CONFLICT (dedupe_key) WHERE status IN " NBI_ACTIVE " DO NOTHING "
    "RETURNING " NBI_JOB_COLUMNS ") "
    "SELECT ins.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM ins"};
// The parts of a new job: $3 parts of $2 cells split as SplitParts does (total * k / n),
// with the job's priority $4 as their claim key; a job whose run_at $5 is after now $6 is
// delayed instead (no claim key, due at $5: kPgDelayMigration).
inline constexpr PgSql kInsertParts{
    "insert_parts",
    "INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index, claim_priority, "
    "due_ms) SELECT $1::int, k, ($2::bigint * k) / $3::int, ($2::bigint * (k + 1)) / $3::int, "
    "($2::bigint * k) / $3::int, CASE WHEN $5::bigint > $6::bigint THEN NULL ELSE $4::int END, "
    "CASE WHEN $5::bigint > $6::bigint THEN $5::bigint END "
    "FROM generate_series(0, $3::int - 1) AS k"};
inline constexpr PgSql kActiveByKey{
    "active_by_key",
    "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE dedupe_key = $1::text AND status IN " NBI_ACTIVE};
// The claim key of a job's part: its priority while a claim may take it, else NULL (v10).
#define NBI_CLAIM_PRIORITY_OF(job)                                          \
  "(SELECT priority FROM jobs WHERE id = " job " AND status IN " NBI_ACTIVE \
  " AND NOT "                                                               \
  "cancel_requested)"
// The claim's candidates, best first: a walk of job_parts_claim_idx (v10) in claim order (job
// priority, then oldest job, then part), each part's job looked up by its key for ready_parts
// (a job being stopped) and run_at, stopping at the $3-th ready part. Parts of jobs whose
// run_at is ahead (delayed, or in a retry's backoff) are not in the index (kPromoteDue); the
// run_at test stays for a job whose run_at moved while one of its parts was locked; it is
// written "+ 0" so that the job is found by its key: with statistics that saw few due jobs
// the planner otherwise scanned jobs_next_run_idx for the join and filtered every walked part
// against it. The same for "ready_parts + 0": written plainly, jobs_next_run_idx (whose
// predicate is ready_parts > 0, and which holds id as its last column) qualifies for the
// lookup, and with statistics taken while the table was small the planner scanned that whole
// index once per walked part (measured: 10 ms instead of 2.9 for a claim of 100 with 20,000
// ready jobs; PgClaimPlanTest).
// SKIP LOCKED: concurrent claimers pass over each other's candidate parts instead of queueing
// on them; the row lock (re-checked against the newest row version) makes the claim
// exclusive. $1 worker, $2 now, $3 limit, $4 the most cells a part may have left (a local
// queue's claim of small parts; else the largest bigint).
#define NBI_CLAIM_CANDIDATES                                                                 \
  "SELECT p.job_id, p.part, j.part_count FROM job_parts p JOIN jobs j ON j.id = p.job_id "   \
  "WHERE p.status = 'pending' AND p.claim_priority IS NOT NULL AND (j.ready_parts + 0) > 0 " \
  "AND p.end_index - p.next_index <= $4::bigint "                                            \
  "AND (j.run_at_ms + 0) <= $2::bigint ORDER BY p.claim_priority DESC, p.job_id, p.part "    \
  "LIMIT $3::int FOR UPDATE OF p SKIP LOCKED"
// Before each claim, in its transaction: the delayed parts that have come due by $1 (the
// queue's now, the database's clock) enter the claim index with their job's priority (NULL
// when the job can no longer be claimed). One range probe of job_parts_due_idx, which holds
// only delayed parts: nothing to read while none is due, however many wait. Parts another
// claim is promoting are skipped (it commits them). Other processes' workers are woken when
// parts came due (they wait for the earliest run_at anyway; this covers a claim that takes
// only some of them).
inline constexpr PgSql kPromoteDue{
    "promote_due",
    "WITH d AS (SELECT job_id, part FROM job_parts WHERE due_ms <= $1::bigint "
    "FOR UPDATE SKIP LOCKED), "
    "u AS (UPDATE job_parts p SET due_ms = NULL, claim_priority = " NBI_CLAIM_PRIORITY_OF(
        "p.job_id") " FROM d WHERE p.job_id = d.job_id AND p.part = d.part RETURNING 1) "
    "SELECT count(*), (SELECT count(*) FROM (SELECT pg_notify('" NBI_JOBS_CHANNEL "', '') "
    "WHERE EXISTS (SELECT 1 FROM u)) n) FROM u"};
// The claim's plan is the walk whatever the statistics say: without them (a table that grew
// since its last ANALYZE, or a generic plan cached while it was small) the planner took a
// bitmap scan of every pending part and a sort (measured: 3.5 ms with 3,000 pending parts,
// growing with them). Set in the claim's own transaction, so nothing else is planned so.
inline constexpr PgSql kClaimPlanSettings{
    "claim_plan_settings",
    "SELECT set_config('enable_sort', 'off', true), set_config('enable_seqscan', 'off', true), "
    "set_config('enable_bitmapscan', 'off', true)"};
// The common case in one statement, in a transaction of its own (sent with BEGIN, the
// settings above and COMMIT in one round trip): the ready parts of jobs of one
// part are claimed and their jobs started (RollUp of a job whose only part runs: running,
// owner, attempts and heartbeat of the part, nothing ready). One row per candidate, in no
// order (the store sorts the claims): the part (NBI_PART_COLUMNS), then its started job
// (NBI_JOB_COLUMNS). A candidate of a job of several parts is left alone (its part columns
// NULL: kClaimParts takes it, in a transaction that settles the job); a claimed part whose job
// did not start (cancelled meanwhile) has NULL job columns and is settled (given back) the
// same way. The started jobs' rows carry their parts (cj returns cp's columns): a join of
// the three lists back together after the updates was planned as a nested loop over them
// (n x n rows: a quarter of a claim of 100); the parts whose job did not start are looked
// for only when fewer jobs started than parts were claimed. The job is found by its key
// only: "status || ''" keeps jobs_status_idx (every pending job) out of the lookup whatever
// the statistics.
// A row's part or job columns when it has none (one NULL per column of NBI_PART_COLUMNS,
// NBI_JOB_COLUMNS).
#define NBI_NO_PART_COLUMNS "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
#define NBI_NO_JOB_COLUMNS                                                                     \
  "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, " \
  "NULL, NULL, NULL, NULL"
inline constexpr PgSql kClaimSolo{
    "claim_solo",
    "WITH c AS (" NBI_CLAIM_CANDIDATES "), "
    "cp AS (UPDATE job_parts p SET status = 'running', locked_by = $1::text, "
    "attempts = p.attempts + 1, heartbeat_at_ms = $2::bigint, claimed_index = p.next_index "
    "FROM c WHERE p.job_id = c.job_id AND p.part = c.part AND c.part_count = 1 "
    "RETURNING p.job_id AS c_job, p.part AS c_part, p.begin_index AS c_begin, "
    "p.end_index AS c_end, p.next_index AS c_next, p.status AS c_status, "
    "p.attempts AS c_attempts, p.locked_by AS c_owner, p.heartbeat_at_ms AS c_hb, "
    "p.claimed_index AS c_claimed), "
    "cj AS (UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, " NBI_TS("$2")
    "), ready_parts = 0, locked_by = $1::text, attempts = cp.c_attempts, "
    "heartbeat_at_ms = GREATEST(heartbeat_at_ms, $2::bigint) FROM cp "
    "WHERE id = cp.c_job AND (status || '') = 'pending' AND NOT cancel_requested "
    "RETURNING cp.*, " NBI_JOB_COLUMNS ") "
    "SELECT * FROM cj UNION ALL SELECT cp.*, " NBI_NO_JOB_COLUMNS " FROM cp "
    "WHERE (SELECT count(*) FROM cj) < (SELECT count(*) FROM cp) "
    "AND NOT EXISTS (SELECT 1 FROM cj WHERE cj.id = cp.c_job) "
    "UNION ALL SELECT " NBI_NO_PART_COLUMNS ", " NBI_NO_JOB_COLUMNS " FROM c "
    "WHERE c.part_count <> 1"};
// Any ready part, in a transaction that settles each claimed part's job after it (SettleClaims).
inline constexpr PgSql kClaimParts{
    "claim_parts",
    "WITH c AS (" NBI_CLAIM_CANDIDATES
    ") "
    "UPDATE job_parts p SET status = 'running', locked_by = $1::text, "
    "attempts = p.attempts + 1, heartbeat_at_ms = $2::bigint, claimed_index = p.next_index "
    "FROM c WHERE p.job_id = c.job_id AND p.part = c.part "
    "RETURNING p.job_id, p.part, p.begin_index, p.end_index, p.next_index, p.status, "
    "p.attempts, p.locked_by, p.heartbeat_at_ms, p.claimed_index"};
// Locks the job of claimed parts and notes when it started. Returns its status before the
// claim's RollUp. $1 job, $2 now.
inline constexpr PgSql kJobStarted{
    "job_started",
    "UPDATE jobs SET started_at = COALESCE(started_at, " NBI_TS("$2") ") "
    "WHERE id = $1::bigint RETURNING status"};
// A claim whose job stopped meanwhile (cancelled or failed) gives the part back.
inline constexpr PgSql kUnclaimPart{
    "unclaim_part",
    "UPDATE job_parts SET status = 'pending', locked_by = NULL, "
    "attempts = GREATEST(attempts - 1, 0), claim_priority = " NBI_CLAIM_PRIORITY_OF(
        "$1::bigint") " WHERE job_id = $1::bigint AND part = $2::int"};
// A job that can no longer be claimed takes its unfinished parts out of the claim index (v10).
// Parts another transaction holds are skipped, never waited for: a claimer holding one waits
// for this job's row next (lock order: parts, then job) and, finding the job stopped, gives
// the part back with kUnclaimPart. $1 job.
#define NBI_UNCLAIMABLE_PARTS(cond)                                                   \
  "UPDATE job_parts SET claim_priority = NULL, due_ms = NULL WHERE " cond             \
  " AND job_id = $1::bigint AND "                                                     \
  "part IN (SELECT part FROM job_parts WHERE " cond                                   \
  " AND job_id = $1::bigint "                                                         \
  "AND (claim_priority IS NOT NULL OR due_ms IS NOT NULL) AND status <> 'completed' " \
  "FOR UPDATE SKIP LOCKED)"
inline constexpr PgSql kCancelParts{"cancel_parts", NBI_UNCLAIMABLE_PARTS("true")};
// An equal job scheduled again with a higher priority: its parts' claim key first (lock order:
// parts, then the job). $1 job, $2 priority.
inline constexpr PgSql kRaisePartsPriority{
    "raise_parts_priority",
    "UPDATE job_parts SET claim_priority = $2::int WHERE job_id = $1::bigint "
    "AND claim_priority < $2::int"};
// Completes the part of a job of one part, and so the job (RollUp: every part completed), in
// one statement: when worker $3 runs it and, unless $5, it wrote no cells (a part with cells
// rebuilds their overview levels in the same transaction: PgTilesOnPartCompleted). Returns the
// part as it was (NBI_PART_COLUMNS), then the completed job; no row: not that case (the general
// path decides). $1 job, $2 part, $3 worker, $4 now, $6 the next index the worker wrote to
// (NULL: not checked; else a part stored elsewhere is not this case either).
inline constexpr PgSql kCompleteSolo{
    "complete_solo",
    "WITH o AS (SELECT " NBI_PART_COLUMNS " FROM job_parts WHERE job_id = $1::bigint "
    "AND part = $2::int AND status = 'running' AND locked_by = $3::text "
    "AND ($5::boolean OR next_index = begin_index) "
    "AND ($6::bigint IS NULL OR next_index = $6::bigint) "
    "AND (SELECT part_count FROM jobs WHERE id = $1::bigint AND status = 'running') = 1 "
    "FOR UPDATE), "
    "p AS (UPDATE job_parts jp SET status = 'completed', locked_by = NULL, "
    "next_index = jp.end_index FROM o WHERE jp.job_id = o.job_id AND jp.part = o.part "
    "RETURNING jp.attempts AS c_attempts), "
    "j AS (UPDATE jobs SET status = 'completed', ready_parts = 0, locked_by = NULL, "
    "attempts = p.c_attempts, completed_at = " NBI_TS("$4") ", progress = 100, error = NULL "
    "FROM p WHERE id = $1::bigint AND status = 'running' RETURNING " NBI_JOB_COLUMNS ") "
    "SELECT o.*, j.* FROM o LEFT JOIN j ON true"};
// CompleteBatch's common case: every job of one part in $1 whose part worker $2 runs is
// completed, in one statement. Returns their ids. $3 now. The jobs are read by their keys in
// $1, then each one's part, and each completed part's job, by key ("status || ''": with
// statistics taken while the table was small, the planner read every running part through
// job_parts_running_idx and every running job through jobs_status_idx, and joined them in
// nested loops of n x n rows: 7.5 ms for 100 jobs instead of 2.4; PgBatchPlanTest).
inline constexpr PgSql kCompleteSoloBatch{
    "complete_solo_batch",
    "WITH o AS (SELECT p.job_id, p.part FROM job_parts p JOIN jobs j ON j.id = p.job_id "
    "WHERE j.id = ANY($1::bigint[]) AND (p.status || '') = 'running' AND p.locked_by = $2::text "
    "AND j.part_count = 1 AND (j.status || '') = 'running' ORDER BY p.job_id FOR UPDATE OF p), "
    "p AS (UPDATE job_parts jp SET status = 'completed', locked_by = NULL, "
    "next_index = jp.end_index FROM o WHERE jp.job_id = o.job_id AND jp.part = o.part "
    "RETURNING jp.job_id AS c_job, jp.attempts AS c_attempts), "
    "j AS (UPDATE jobs SET status = 'completed', ready_parts = 0, locked_by = NULL, "
    "attempts = p.c_attempts, completed_at = " NBI_TS("$3") ", progress = 100, error = NULL "
    "FROM p WHERE id = p.c_job AND (status || '') = 'running' RETURNING id) "
    "SELECT id FROM j"};
// PgWriteWholeJobs (pg_batch.h): the batch's jobs of one part and one chunk ($1 job ids, $2 parts,
// $3 their cell counts; $4 the worker, $5 now): each part the worker runs at cell 0, over its job's
// whole region, of a running job of one part, completes with its job, as a last checkpoint and
// kCompleteSolo would (lastProcessedIndex grows by the cells, progress 100). Parts locked in id
// order, then their jobs (the lock order of every path). One row per part the worker runs: its
// stored next index, whether it completed here, and the job's answer (null: not completed).
inline constexpr PgSql kCompleteWholeJobs{
    "complete_whole_jobs",
    "WITH a AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS a(job_id, part, n)), "
    "o AS (SELECT p.job_id, p.part, p.next_index, p.begin_index, p.end_index, a.n "
    "FROM job_parts p JOIN a ON p.job_id = a.job_id AND p.part = a.part "
    "WHERE p.status = 'running' AND p.locked_by = $4::text ORDER BY p.job_id, p.part "
    "FOR UPDATE OF p), "
    "p AS (UPDATE job_parts jp SET status = 'completed', locked_by = NULL, "
    "next_index = jp.end_index, heartbeat_at_ms = GREATEST(jp.heartbeat_at_ms, $5::bigint) "
    "FROM o, jobs jb WHERE jp.job_id = o.job_id AND jp.part = o.part AND jb.id = o.job_id "
    "AND jb.status = 'running' AND jb.part_count = 1 AND o.next_index = 0 "
    "AND o.begin_index = 0 AND o.end_index = o.n "
    "RETURNING jp.job_id AS c_job, jp.attempts AS c_attempts, o.n AS c_n), "
    "j AS (UPDATE jobs SET status = 'completed', ready_parts = 0, locked_by = NULL, "
    "attempts = p.c_attempts, completed_at = " NBI_TS("$5") ", progress = 100, error = NULL, "
    "heartbeat_at_ms = GREATEST(heartbeat_at_ms, $5::bigint), "
    "metadata = jsonb_set(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata "
    "ELSE '{}'::jsonb END, '{lastProcessedIndex}', to_jsonb(" NBI_DONE_INDEX " + p.c_n)) "
    "FROM p WHERE id = p.c_job AND status = 'running' "
    "RETURNING id, cancel_requested, " NBI_DONE_INDEX " AS done, p.c_n AS added) "
    "SELECT o.job_id, o.part, o.next_index, p.c_job IS NOT NULL, j.cancel_requested, j.done, "
    "j.added FROM o LEFT JOIN p ON p.c_job = o.job_id LEFT JOIN j ON j.id = o.job_id"};

inline constexpr PgSql kSelectOwnedPart{
    "select_owned_part", "SELECT " NBI_PART_COLUMNS
                         " FROM job_parts WHERE job_id = $1::bigint AND part = $2::int "
                         "AND status = 'running' AND locked_by = $3::text FOR UPDATE"};
inline constexpr PgSql kSelectPartForUpdate{
    "select_part_for_update", "SELECT " NBI_PART_COLUMNS
                              " FROM job_parts WHERE job_id = $1::bigint AND part = $2::int "
                              "FOR UPDATE"};
inline constexpr PgSql kListParts{"list_parts",
                                  "SELECT " NBI_PART_COLUMNS
                                  " FROM job_parts WHERE job_id = $1::bigint ORDER BY part"};
inline constexpr PgSql kOwnedPartsOf{
    "owned_parts_of", "SELECT " NBI_PART_COLUMNS
                      " FROM job_parts WHERE job_id = $1::bigint "
                      "AND status = 'running' AND locked_by = $2::text ORDER BY part FOR UPDATE"};
// The parts of a job by state (RollUp's tally), and the owner of its lowest running part
// (the job's locked_by: the worker that holds its earliest cells).
inline constexpr PgSql kTallyParts{
    "tally_parts",
    "SELECT status, count(*), max(attempts), max(heartbeat_at_ms), "
    "(array_agg(locked_by ORDER BY part) FILTER (WHERE status = 'running'))[1] "
    "FROM job_parts WHERE job_id = $1::bigint GROUP BY status"};
// Writes a RollUp. $1 job, $2 status, $3 ready_parts, $4 locked_by, $5 attempts, $6 heartbeat
// (NULL: unchanged), $7 completed_at ms (NULL: unchanged), $8 the job can no longer be claimed
// (failed, cancelled, being cancelled): its parts leave the claim index.
inline constexpr PgSql kApplyRollUp{
    "apply_rollup",
    "WITH z AS (" NBI_UNCLAIMABLE_PARTS("$8::boolean") ") UPDATE jobs SET status = $2::text, ready_parts = $3::int, locked_by = $4::text, "
    "attempts = $5::int, heartbeat_at_ms = GREATEST(heartbeat_at_ms, $6::bigint), "
    "completed_at = CASE WHEN $7::bigint IS NULL THEN completed_at ELSE " NBI_TS("$7") " END, "
    "progress = CASE WHEN $2::text = 'completed' THEN 100 ELSE progress END, "
    "error = CASE WHEN $2::text = 'completed' THEN NULL ELSE error END "
    "WHERE id = $1::bigint RETURNING " NBI_JOB_COLUMNS};
// A part leaves `running`. $1 job, $2 part, $3 status, $4 attempts.
inline constexpr PgSql kSetPartState{
    "set_part_state",
    "UPDATE job_parts SET status = $3::text, attempts = $4::int, locked_by = NULL, "
    "next_index = CASE WHEN $3::text = 'completed' THEN end_index ELSE next_index END "
    "WHERE job_id = $1::bigint AND part = $2::int"};
// Every part the worker runs of the job, then the job. A heartbeat never moves back.
inline constexpr PgSql kHeartbeat{
    "heartbeat",
    "WITH p AS (UPDATE job_parts SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $3::bigint) "
    "WHERE job_id = $1::bigint AND status = 'running' AND locked_by = $2::text RETURNING 1) "
    "UPDATE jobs SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $3::bigint) "
    "WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM p) RETURNING cancel_requested"};
// A chunk's part before its cells are sent (StageCheckpoint): its range, if the worker runs
// it. Not locked: the commit checks the owner again under the row's lock. $1 job, $2 part,
// $3 worker.
inline constexpr PgSql kStagePart{
    "stage_part",
    "SELECT begin_index, end_index FROM job_parts WHERE job_id = $1::bigint AND part = "
    "$2::int AND status = 'running' AND locked_by = $3::text"};
// The checkpoint of a chunk of cells ending at $4: the part's next index ($4) and heartbeat,
// then the job's progress, lastProcessedIndex (+ the cells past the part's old next index)
// and heartbeat. Only while the worker runs the part and the job runs; otherwise it raises
// NB001 (kConflict), which aborts the transaction. The part's row is locked before the
// job's, the order of every other path; the job's row is held only until the COMMIT that
// follows in the same round trip, so parts of one job write their cells at the same time.
// (The runner commits the chunks of a part in order: runner.cc, CommitOrder.) $5 now, $6 the
// chunk's begin: a compare-and-set, the part's stored next index must be it, else NB002
// (nbi_require_position, v14) aborts the transaction and so the chunk's cells.
inline constexpr PgSql kCommitCheckpoint{
    "commit_checkpoint",
    "WITH o AS (SELECT next_index FROM job_parts WHERE job_id = $1::bigint AND part = $2::int "
    "AND status = 'running' AND locked_by = $3::text FOR UPDATE), "
    "p AS (UPDATE job_parts jp SET next_index = $4::bigint, "
    "heartbeat_at_ms = GREATEST(jp.heartbeat_at_ms, $5::bigint) FROM o "
    "WHERE jp.job_id = $1::bigint AND jp.part = $2::int "
    "RETURNING $4::bigint - o.next_index AS added), "
    "u AS (UPDATE jobs SET heartbeat_at_ms = GREATEST(heartbeat_at_ms, $5::bigint), "
    "progress = CASE WHEN total_items > 0 THEN LEAST(100, (100 * (" NBI_DONE_INDEX
    " + p.added)) / total_items) ELSE 100 END, "
    "metadata = jsonb_set(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata "
    "ELSE '{}'::jsonb END, '{lastProcessedIndex}', to_jsonb(" NBI_DONE_INDEX
    " + p.added)) "
    "FROM p WHERE id = $1::bigint AND status = 'running' "
    "RETURNING cancel_requested, " NBI_DONE_INDEX
    " AS done, p.added) "
    "SELECT (SELECT cancel_requested FROM u), (SELECT done FROM u), (SELECT added FROM u), "
    "nbi_require_running((SELECT count(*) FROM u)), "
    "nbi_require_position((SELECT next_index FROM o), $6::bigint)"};
// A staged chunk's transaction waits, idle, for the chunk before it to commit. A worker
// frozen there (SIGSTOP, a VM pause) would hold its uncommitted cells, and the worker that
// takes the part over would wait on them at its COPY: the server ends such a transaction
// after 5 s idle (the staged chunk is then simply staged again).
inline constexpr PgSql kStageIdleTimeout{nullptr,
                                         "SET LOCAL idle_in_transaction_session_timeout = 5000"};
inline constexpr PgSql kCommitSql{nullptr, "COMMIT"};
// A failed attempt: $2 retry (error kept, run_at $4) or fail for good (completed at $5).
// Every transition that makes a part ready notifies the channel (fail with backoff,
// hand-back, retry, rescue, reset-running), so other machines' workers look again at once.
// A retry's pending parts wait out the backoff outside the claim index, due at $4
// (kPromoteDue). The caller holds the failed part and the job; other parts are never waited
// for (lock order: parts, then job): one that a claimer holds keeps its key, and the claim's
// run_at test passes over it.
#define NBI_DELAY_PARTS(cond, due)                                               \
  "UPDATE job_parts SET claim_priority = NULL, due_ms = " due " WHERE " cond     \
  " AND job_id = $1::bigint AND part IN (SELECT part FROM job_parts WHERE " cond \
  " AND job_id = $1::bigint AND status = 'pending' "                             \
  "AND (claim_priority IS NOT NULL OR due_ms IS NOT NULL) FOR UPDATE SKIP LOCKED)"
inline constexpr PgSql kFailJob{
    "fail_job",
    "WITH d AS (" NBI_DELAY_PARTS("$2::boolean", "$4::bigint") ") "
    "UPDATE jobs SET error = $3::text, "
    "status = CASE WHEN $2::boolean THEN status ELSE 'failed' END, "
    "run_at_ms = CASE WHEN $2::boolean THEN $4::bigint ELSE run_at_ms END, "
    "completed_at = CASE WHEN $2::boolean THEN completed_at ELSE " NBI_TS("$5") " END "
    "WHERE id = $1::bigint"};
inline constexpr PgSql kNotify{"notify", "SELECT pg_notify('" NBI_JOBS_CHANNEL "', '')"};
// A job ready from now $2 (a hand-back, a rescue, a reset): its parts still waiting out a
// backoff are due now too (the next claim's kPromoteDue takes them). $1 job.
#define NBI_PARTS_DUE_NOW                                                            \
  "UPDATE job_parts SET due_ms = $2::bigint WHERE job_id = $1::bigint AND part IN (" \
  "SELECT part FROM job_parts WHERE job_id = $1::bigint AND due_ms > $2::bigint "    \
  "FOR UPDATE SKIP LOCKED)"
inline constexpr PgSql kJobRunAt{"job_run_at", "WITH d AS (" NBI_PARTS_DUE_NOW
                                               ") UPDATE jobs SET run_at_ms = $2::bigint "
                                               "WHERE id = $1::bigint"};
inline constexpr PgSql kJobError{"job_error",
                                 "UPDATE jobs SET error = $2::text WHERE id = $1::bigint"};
inline constexpr PgSql kCancel{
    "cancel",
    "UPDATE jobs SET status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END, "
    "completed_at = CASE WHEN status = 'pending' THEN " NBI_TS("$2") " ELSE completed_at END, "
    "cancel_requested = cancel_requested OR status = 'running', ready_parts = 0 "
    "WHERE id = $1::bigint AND status IN " NBI_ACTIVE " RETURNING " NBI_JOB_COLUMNS};
// Retry: the unfinished parts of a failed or cancelled job run again.
inline constexpr PgSql kRetryParts{
    "retry_parts",
    "UPDATE job_parts SET status = 'pending', attempts = 0, locked_by = NULL, due_ms = NULL, "
    "claim_priority = (SELECT priority FROM jobs WHERE id = $1::bigint) "
    "WHERE job_id = $1::bigint AND status <> 'completed' AND EXISTS (SELECT 1 FROM jobs "
    "WHERE id = $1::bigint AND status IN ('failed', 'cancelled'))"};
inline constexpr PgSql kRetry{
    "retry",
    "WITH u AS (UPDATE jobs SET status = 'pending', attempts = 0, error = NULL, "
    "cancel_requested = false, completed_at = NULL, locked_by = NULL, run_at_ms = $2::bigint, "
    "ready_parts = (SELECT count(*) FROM job_parts WHERE job_id = $1::bigint "
    "AND status = 'pending') "
    "WHERE id = $1::bigint AND status IN ('failed', 'cancelled') RETURNING " NBI_JOB_COLUMNS
    ") SELECT u.*, pg_notify('" NBI_JOBS_CHANNEL "', '') FROM u"};
// Running parts whose heartbeat is older than $1 (a part that never heartbeated counts). A part
// with no owner (a job the original app's worker set running, SPEC §2a) counts once its job
// started before $1.
inline constexpr PgSql kStaleParts{
    "stale_parts",
    "SELECT p.job_id, p.part FROM job_parts p WHERE p.status = 'running' "
    "AND ((p.locked_by IS NOT NULL "
    "AND (p.heartbeat_at_ms IS NULL OR p.heartbeat_at_ms < $1::bigint)) "
    "OR (p.locked_by IS NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = p.job_id "
    "AND j.started_at >= " NBI_TS("$1") "))) ORDER BY p.job_id, p.part"};
// An owner is alive while some session of this database holds the advisory lock on its id
// (kOwnerLock); pg_advisory_lock(bigint) shows in pg_locks as classid = high 32 bits, objid =
// low 32 bits, objsubid = 1. Listed in job_parts_running_idx's order: a plain index scan,
// which marks the entries of parts no longer running as dead as it passes them (a bitmap scan
// read every one of them again each second until a vacuum: 6.7 ms at 96,000 such entries).
// The rescue lists' plan, whatever the statistics say: with the parts that ran since the last
// vacuum the planner chose a bitmap scan of job_parts_running_idx (re-reading every heap page
// those entries point to each second, 4 ms after 20,000 jobs, in the worker's loop before a
// wake-up's claim) over the plain index scan that marks them dead as it passes.
inline constexpr PgSql kRescuePlanSettings{
    "rescue_plan_settings",
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', "
    "true)"};
inline constexpr PgSql kDeadOwnerParts{
    "dead_owner_parts",
    "SELECT p.job_id, p.part FROM job_parts p WHERE p.status = 'running' "
    "AND p.locked_by IS NOT NULL AND NOT EXISTS ("
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = "
    "hashtextextended(COALESCE(p.locked_by, ''), 0)) ORDER BY p.heartbeat_at_ms"};
inline constexpr PgSql kOwnerLock{"owner_lock",
                                  "SELECT pg_try_advisory_lock(hashtextextended($1::text, 0))"};
inline constexpr PgSql kOwnerCheck{"owner_check", "SELECT 1"};
// A clean release: the lock is gone when this returns (closing the session would free it
// only once the server has processed the disconnect).
inline constexpr PgSql kOwnerUnlock{"owner_unlock", "SELECT pg_advisory_unlock_all()"};
inline constexpr PgSql kResetRunningParts{
    "reset_running_parts",
    "UPDATE job_parts SET status = 'pending', locked_by = NULL WHERE status = 'running'"};
inline constexpr PgSql kRunningJobIds{
    "running_job_ids", "SELECT id FROM jobs WHERE status = 'running' ORDER BY id FOR UPDATE"};
inline constexpr PgSql kResetRunningJob{
    "reset_running_job", "WITH d AS (" NBI_PARTS_DUE_NOW
                         ") UPDATE jobs SET started_at = NULL, run_at_ms = $2::bigint "
                         "WHERE id = $1::bigint"};
inline constexpr PgSql kNextPending{
    "next_pending",
    "SELECT " NBI_JOB_COLUMNS
    " FROM jobs WHERE ready_parts > 0 ORDER BY run_at_ms, priority DESC, id LIMIT 1"};
// Never a job that was there before the engine's first migrate (kept, v10).
inline constexpr PgSql kPruneFinished{"prune_finished",
                                      "DELETE FROM jobs WHERE status IN " NBI_FINISHED
                                      " AND completed_at < " NBI_TS("$1") " AND NOT kept"};
inline constexpr PgSql kListJobs{"list_jobs", "SELECT " NBI_JOB_COLUMNS
                                              " FROM jobs WHERE id < $1::bigint "
                                              "ORDER BY id DESC LIMIT $2::bigint"};
inline constexpr PgSql kListJobsByStatus{"list_jobs_by_status",
                                         "SELECT " NBI_JOB_COLUMNS
                                         " FROM jobs WHERE id < $1::bigint "
                                         "AND status = $3::text ORDER BY id DESC LIMIT $2::bigint"};
// Any filter: $3 status, $4 type, $5 city id (each NULL: any).
inline constexpr PgSql kListJobsFiltered{
    "list_jobs_filtered",
    "SELECT " NBI_JOB_COLUMNS
    " FROM jobs WHERE id < $1::bigint "
    "AND ($3::text IS NULL OR status = $3::text) AND ($4::text IS NULL OR type = $4::text) "
    "AND ($5::bigint IS NULL OR city_id = $5::bigint) ORDER BY id DESC LIMIT $2::bigint"};
// An equal active job re-scheduled with a higher priority. $1 job, $2 priority.
inline constexpr PgSql kRaisePriority{"raise_priority",
                                      "UPDATE jobs SET priority = $2::int WHERE id = $1::bigint "
                                      "AND priority < $2::int RETURNING " NBI_JOB_COLUMNS};
// The attempt history (v6). $1 job, $2 part, $3 attempt, $4 at_ms, $5 worker, $6 error,
// $7 outcome.
inline constexpr PgSql kInsertAttempt{
    "insert_attempt",
    "INSERT INTO job_attempts (job_id, part, attempt, at_ms, worker, error, outcome) "
    "VALUES ($1::int, $2::int, $3::int, $4::bigint, $5::text, $6::text, $7::text)"};
inline constexpr PgSql kListAttempts{
    "list_attempts",
    "SELECT job_id, part, attempt, at_ms, worker, error, outcome FROM job_attempts "
    "WHERE job_id = $1::bigint ORDER BY id"};
// The database's wall clock in microseconds (PgStore::ReadDatabaseClock), sent unprepared: one
// round trip on a new connection too, so the reading sits in the middle of the time it took.
inline constexpr PgSql kDatabaseClockUs{
    nullptr, "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"};
inline constexpr PgSql kCountJobs{"count_jobs",
                                  "SELECT status, count(*) FROM jobs GROUP BY status"};
// The cells not yet computed of the active jobs: in all, and per job of the ids in $1.
#define NBI_QUEUED_CELLS "GREATEST(COALESCE(total_items, 0) - " NBI_DONE_INDEX ", 0)"
inline constexpr PgSql kQueuedCells{"queued_cells", "SELECT COALESCE(SUM(" NBI_QUEUED_CELLS
                                                    "), 0)::bigint FROM jobs "
                                                    "WHERE status IN ('pending', 'running')"};
inline constexpr PgSql kQueuedCellsOf{
    "queued_cells_of", "SELECT id, " NBI_QUEUED_CELLS
                       " FROM jobs "
                       "WHERE status IN ('pending', 'running') AND id = ANY($1::bigint[])"};
#undef NBI_QUEUED_CELLS
// jsonb comparisons rather than casts: a job whose metadata lacks bounds, or holds something
// odd there, simply does not match instead of failing the query. A job naming no model is
// of $5 (SEED_JOB_MODEL).
// clang-format off
inline constexpr PgSql kFindCovering{
    "find_covering",
    "SELECT " NBI_JOB_COLUMNS " FROM jobs WHERE status IN " NBI_ACTIVE
    " AND type = 'heatmap_compute' "
    "AND metadata #> '{bounds,minLat}' <= to_jsonb($1::float8) "
    "AND metadata #> '{bounds,maxLat}' > to_jsonb($1::float8) "
    "AND metadata #> '{bounds,minLng}' <= to_jsonb($2::float8) "
    "AND metadata #> '{bounds,maxLng}' > to_jsonb($2::float8) "
    "AND metadata -> 'gridStep' = to_jsonb($3::float8) "
    "AND COALESCE(metadata ->> 'model', $5::text) = $4::text ORDER BY id LIMIT 1"};
// clang-format on
inline constexpr PgSql kResetAreaCells{"reset_area_cells",
                                       "DELETE FROM heat_cells WHERE grid_step = $1::real "
                                       "AND lat BETWEEN $2::real AND $3::real "
                                       "AND lng BETWEEN $4::real AND $5::real "
                                       "AND model = $6::text"};
// Finished jobs of exactly this area, step and model (their dedupe key).
inline constexpr PgSql kResetAreaJobs{"reset_area_jobs",
                                      "DELETE FROM jobs WHERE status IN " NBI_FINISHED
                                      " AND dedupe_key = $1::text"};
