// PostgreSQL store: jobs that the original app enqueues into the shared jobs table (SPEC §2a).
// They name no model and carry the original's own cell count (its grid includes the box's
// upper edges). A claim takes such a job over: its model (SEED_JOB_MODEL) is pinned in its
// metadata, its total_items and its one part span the engine's cells from 0, and it gets its
// dedupe key, so that the engine's scheduling finds it like one of its own. Until then the
// enqueue looks for it by its metadata (PgSeedTwin).
#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"

namespace nbi {

Result<std::optional<Job>> PgSeedTwin(PgConn& c, const HeatmapJobSpec& spec) {
  // A job naming no model computes the seed model only.
  if (spec.model != SeedJobModel()) return std::optional<Job>();
  NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kSeedTwin, PgParams()
                                                       .Double(spec.bounds.min_lat)
                                                       .Double(spec.bounds.min_lng)
                                                       .Double(spec.bounds.max_lat)
                                                       .Double(spec.bounds.max_lng)
                                                       .Double(spec.grid_step)));
  if (r.size() == 0) return std::optional<Job>();
  return std::optional<Job>(ReadJob(r, 0));
}

Status PgAdoptSeedJobs(PgConn& c, std::vector<Job>* claimed) {
  for (Job& job : *claimed) {
    if (!IsSeedJob(job) || job.part_count != 1) continue;
    // Metadata the engine cannot read stays as it is: the run fails the job, saying why.
    auto meta = DecodeHeatmapMetadata(job);
    if (!meta.ok()) continue;
    auto grid = GridRegion::Make(meta->bounds, meta->grid_step);
    if (!grid.ok()) continue;
    HeatmapJobSpec spec;
    spec.bounds = meta->bounds;
    spec.grid_step = meta->grid_step;
    spec.model = meta->model;
    const int64_t cells = grid->cell_count();
    const nlohmann::json patch = {{"model", std::string(HeatModelId(meta->model))},
                                  {"lastProcessedIndex", 0}};
    NBI_ASSIGN_OR_RETURN(
        PgRows row,
        c.Exec(kAdoptSeedJob,
               PgParams().Int(job.id).Text(patch.dump()).Int(cells).Text(DedupeKey(spec))));
    if (row.size() == 0) continue;
    NBI_RETURN_IF_ERROR(c.Exec(kAdoptSeedPart, PgParams().Int(job.id).Int(cells)).status());
    Job adopted = ReadJob(row, 0);
    job.metadata = adopted.metadata;
    job.total_items = adopted.total_items;
    job.progress = adopted.progress;
    job.part_begin = 0;
    job.part_end = cells;
    job.part_next = 0;
  }
  return Status::Ok();
}

}  // namespace nbi
