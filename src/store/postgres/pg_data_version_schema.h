// The PostgreSQL schema step of the scoring data version (pg_sql.h, kMigrations; store.h
// PoiStore::ScoringDataVersion, Checkpoint::data_version).
#pragma once

namespace nbi {

// The version row, and the two sides of its lock: an import bumps the version under an
// exclusive transaction-scoped advisory lock taken just before its COMMIT; a checkpoint that
// carries the version its index was loaded at takes the same lock shared and compares. So an
// import waits for the checkpoints already checked to commit, and a checkpoint checked after
// the bump (or waiting on it) sees the new version and is refused (NB003): no cell scored from
// the data before an import commits after it. The version is read by a statement of its own
// after the lock is held (a function's statement takes a fresh snapshot in READ COMMITTED).
// The key is an arbitrary constant: "NBID".
inline constexpr const char* kPgDataVersionMigration = R"sql(
CREATE TABLE IF NOT EXISTS scoring_data_version (
  id INT PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL);
INSERT INTO scoring_data_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION nbi_data_version_locked() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1312966980);
  SELECT version INTO v FROM scoring_data_version WHERE id = 1;
  RETURN v;
END $$;
CREATE OR REPLACE FUNCTION nbi_require_data_version(loaded bigint)
  RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
  IF loaded IS NULL THEN RETURN true; END IF;
  v := nbi_data_version_locked();
  IF v IS DISTINCT FROM loaded THEN
    RAISE EXCEPTION 'the POIs or walk network changed while it ran (data version %, its index has %); it starts again from the new data',
      v, loaded USING ERRCODE = 'NB003';
  END IF;
  RETURN true;
END $$;
CREATE OR REPLACE FUNCTION nbi_bump_data_version() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1312966980);
  UPDATE scoring_data_version SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
  RETURN v;
END $$;
)sql";

}  // namespace nbi
