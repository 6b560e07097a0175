#include "jobs/runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace nbi {

namespace {

// The chunks of one part commit in order, each staged (its cells sent, uncommitted) on its
// own connection as soon as it is scored: a chunk commits once the cells before it have
// committed (WaitTurn); after an earlier chunk ended the run (Break), it does not commit.
//
// A staged chunk holds its uncommitted cells while it waits, and another job writing the
// same cells waits on them. That job's staged chunk may hold cells that the chunk before
// ours waits on in turn: a cycle through two clients that the database cannot see. So a
// staged chunk waits only kHoldMs; then it rolls back, waits for its turn holding nothing,
// and is staged again.
class CommitOrder {
 public:
  static constexpr std::chrono::milliseconds kHoldMs{100};
  enum Turn { kTurn, kTimedOut, kEnded };
  explicit CommitOrder(int64_t committed) : committed_(committed) {}
  // Waits until cells [.., begin) are committed (kTurn), the run has ended instead (kEnded),
  // or `limit` has passed (kTimedOut).
  Turn WaitTurn(int64_t begin, std::chrono::milliseconds limit = std::chrono::hours(24 * 365)) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, limit, [&] { return broken_ || committed_ >= begin; })) {
      return kTimedOut;
    }
    return broken_ ? kEnded : kTurn;
  }
  void Advance(int64_t committed_to) {
    {
      std::lock_guard<std::mutex> l(mu_);
      committed_ = std::max(committed_, committed_to);
    }
    cv_.notify_all();
  }
  void Break() {
    {
      std::lock_guard<std::mutex> l(mu_);
      broken_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t committed_;    // guarded by mu_
  bool broken_ = false;  // guarded by mu_
};

// One background thread that writes the chunks submitted to it, one at a time. A run has two:
// chunk n goes to writer n % 2, so chunk n+1 travels to the database while chunk n commits.
// Submit() hands a chunk over once the writer's previous one is written; Wait() returns that
// write's result.
class ChunkWriter {
 public:
  using Write = std::function<std::optional<JobOutcome>(
      int64_t begin, std::span<const uint8_t>, bool* cancel, CheckpointProgress* progress)>;
  explicit ChunkWriter(const Write& write) : write_(write), thread_([this] { Loop(); }) {}
  ~ChunkWriter() {
    {
      std::lock_guard<std::mutex> l(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  struct Result {
    bool any = false;  // a chunk was written since the last Wait
    int64_t begin = 0, cells = 0;
    std::optional<JobOutcome> end;
    bool cancel = false;
    CheckpointProgress progress;
  };
  // Waits until the chunk in flight (if any) is written; returns its result.
  Result Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !busy_; });
    return std::exchange(result_, Result{});
  }
  // Starts writing [begin, begin + scores.size()); the caller keeps `scores` alive and
  // unchanged until the next Wait(). Call after Wait().
  void Submit(int64_t begin, std::span<const uint8_t> scores) {
    {
      std::lock_guard<std::mutex> l(mu_);
      busy_ = true;
      begin_ = begin;
      scores_ = scores;
    }
    cv_.notify_all();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return quit_ || (busy_ && !result_.any); });
      if (quit_) return;
      const int64_t begin = begin_;
      const std::span<const uint8_t> scores = scores_;
      l.unlock();
      bool cancel = false;
      CheckpointProgress progress;
      std::optional<JobOutcome> end = write_(begin, scores, &cancel, &progress);
      l.lock();
      result_ = Result{true, begin, static_cast<int64_t>(scores.size()), end, cancel, progress};
      busy_ = false;
      cv_.notify_all();
    }
  }

  const Write& write_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool quit_ = false;                // guarded by mu_
  bool busy_ = false;                // guarded by mu_: a chunk is submitted, not yet written
  int64_t begin_ = 0;                // guarded by mu_
  std::span<const uint8_t> scores_;  // guarded by mu_
  Result result_;                    // guarded by mu_
  std::thread thread_;               // last: starts after the members above exist
};

// One job run: the job, its decoded parameters and what to do when it ends.
class HeatmapRun {
 public:
  // `shared`: the index of a batch this job is in (SharedJobIndexes), else null.
  HeatmapRun(Store* store, const Env& env, const Job& job, const JobRunOptions& opts,
             const std::atomic<bool>* stop, std::shared_ptr<const ModelIndex> shared = nullptr)
      : store_(store), env_(env), job_(job), opts_(opts), stop_(stop), shared_(std::move(shared)) {}

  // What a run computes, once Start has decoded the job and loaded its index: the part's
  // cells [begin, end), resuming at next.
  struct Plan {
    HeatmapMetadata meta;
    std::optional<GridRegion> region;
    int64_t begin = 0, next = 0, end = 0;
    std::shared_ptr<const ModelIndex> index;
  };

  JobOutcome Run();
  // The run's start: the job decoded, "Started" said, its index loaded. An outcome when the
  // run ends there (an invalid job fails).
  std::optional<JobOutcome> Start(Plan* plan);
  // The rest of Run after Start.
  JobOutcome RunPlanned(const Plan& plan);
  // A part that fits in one chunk, in a batch (RunSmallHeatmapJobs): its cells scored into
  // `scores` and its checkpoint (which completes it) filled in, to be written with others.
  void PrepareWrite(const Plan& plan, std::vector<uint8_t>* scores, CheckpointCompletion* done,
                    CheckpointProgress* progress, Checkpoint* cp) const;
  // The batch's write of that checkpoint came back `r` (not written unless ok).
  JobOutcome Written(const Plan& plan, const Result<bool>& r, const CheckpointCompletion& done,
                     const CheckpointProgress& progress, int64_t start_steady_ms);

 private:
  JobOutcome Fail(const Status& s);
  JobOutcome HandBack();
  // The database holds another position for the part than this run wrote to (PositionMoved),
  // or other data than its index was loaded from (DataChanged): the run's own position and
  // index are dropped, and the part handed back resumes from the stored position with an
  // index of the stored data.
  JobOutcome Resume(const Status& moved);
  static bool HandsBack(const Status& s) { return IsPositionMoved(s) || IsDataChanged(s); }
  // Writes chunk [next, next+n); nullopt: go on, else the run ends with that outcome.
  // It commits after the cells before it (`order`).
  // With `complete`, the chunk ends its part and the same transaction completes it.
  std::optional<JobOutcome> WriteChunk(const GridRegion& region, HeatModel model, int64_t next,
                                       std::span<const uint8_t> scores, CommitOrder* order,
                                       bool* cancel, CheckpointProgress* progress,
                                       CheckpointCompletion* complete = nullptr);
  void LogProgress(const CheckpointProgress& p) const;
  Result<std::shared_ptr<const ModelIndex>> LoadIndex(const HeatmapMetadata& meta);
  Result<std::shared_ptr<const ModelIndex>> BuildIndex(const HeatmapMetadata& meta);
  JobOutcome Finish(int64_t begin, int64_t end);
  // The part completed (by CompletePart or its last checkpoint): says so.
  JobOutcome Finished(int64_t begin, int64_t end, bool job_completed);
  // The chunk loop over the part's cells [next, end) (of [begin, end)), then Finish.
  JobOutcome RunChunks(const GridRegion& region, HeatModel model, const ModelIndex& index,
                       int64_t begin, int64_t next, int64_t end);
  // RunChunks of a part whose cells left fit in one chunk: scored and written on the job's
  // own thread (no writer threads to start and join for one write).
  JobOutcome RunOneChunk(const GridRegion& region, HeatModel model, const ModelIndex& index,
                         int64_t begin, int64_t next, int64_t end);
  void Log(const std::string& line) const { env_.log->info(line); }
  // "checkpoint of job #12": the retry log names the job.
  std::string What(std::string_view step) const {
    return fmt::format("{} of job #{}", step, job_.id);
  }

  Store* const store_;
  const Env& env_;
  const Job& job_;
  const JobRunOptions& opts_;
  const std::atomic<bool>* const stop_;
  const std::shared_ptr<const ModelIndex> shared_;
  std::optional<int64_t> data_version_;  // the index's (Start), carried by each checkpoint
};

JobOutcome HeatmapRun::Fail(const Status& s) {
  bool permanent = s.code() == StatusCode::kInvalidArgument;
  auto r = RetryTransient(env_, What("fail"), stop_, [&] {
    return store_->FailPart(job_.id, job_.part, opts_.worker_id, s.message(), permanent);
  });
  if (r.ok()) {
    if (opts_.on_attempt_failed) opts_.on_attempt_failed(*r, permanent);
    Log(fmt::format("Job #{} failed (attempt {}/{}){}: {}", job_.id, job_.attempts,
                    job_.max_attempts, r->status == JobStatus::kPending ? ", will retry" : "",
                    s.message()));
  } else {
    // Not silent: the job stays `running` under this worker's lease until a rescue.
    Log(fmt::format("Job #{} failed ({}) and the failure could not be recorded: {}", job_.id,
                    s.message(), r.status().message()));
  }
  return JobOutcome::kFailed;
}

JobOutcome HeatmapRun::HandBack() {
  auto r = RetryTransient(env_, What("release"), stop_,
                          [&] { return store_->ReleasePart(job_.id, job_.part, opts_.worker_id); });
  if (!r.ok()) {
    Log(fmt::format("Job #{} could not be handed back: {}", job_.id, r.status().message()));
    return JobOutcome::kLostLease;
  }
  if (r->status == JobStatus::kCancelled) {
    Log(fmt::format("Job #{} cancelled at {}/{} cells", job_.id, r->last_processed_index(),
                    job_.total_items));
    return JobOutcome::kCancelled;
  }
  Log(fmt::format("Job #{} handed back at {}/{} cells", job_.id, r->last_processed_index(),
                  job_.total_items));
  return JobOutcome::kHandedBack;
}

JobOutcome HeatmapRun::Resume(const Status& moved) {
  Log(fmt::format("Job #{}: {}", job_.id, moved.message()));
  // An index of data an import has changed since is of no use to the job's next claim.
  if (IsDataChanged(moved) && opts_.index_cache) opts_.index_cache->Forget(job_.id);
  return HandBack();
}

std::optional<JobOutcome> HeatmapRun::WriteChunk(const GridRegion& region, HeatModel model,
                                                 int64_t next, std::span<const uint8_t> scores,
                                                 CommitOrder* order, bool* cancel,
                                                 CheckpointProgress* progress,
                                                 CheckpointCompletion* complete) {
  Checkpoint cp;
  cp.job_id = job_.id;
  cp.part = job_.part;
  cp.worker_id = opts_.worker_id;
  cp.region = &region;
  cp.begin = next;
  cp.scores = scores;
  cp.city_id = job_.city_id;
  cp.model = model;
  cp.progress = progress;
  cp.complete = complete;
  cp.data_version = data_version_;
  // Staged at once, committed in its turn (CommitOrder); its errors are acted on in its turn.
  bool skipped = false;
  auto r = RetryTransient(env_, What("checkpoint"), stop_, [&]() -> Result<bool> {
    auto staged = store_->StageCheckpoint(cp);
    CommitOrder::Turn turn = order->WaitTurn(next, CommitOrder::kHoldMs);
    if (turn == CommitOrder::kTimedOut) {  // let go of the cells, wait, stage again
      staged = Status::Transient("not staged");
      turn = order->WaitTurn(next);
      if (turn == CommitOrder::kTurn) staged = store_->StageCheckpoint(cp);
    }
    if (turn == CommitOrder::kEnded) {
      skipped = true;
      return false;
    }
    if (!staged.ok()) return staged.status();
    return (*staged)->Commit();
  });
  if (skipped) return JobOutcome::kLostLease;  // never seen: the chunk before ended the run
  if (r.ok()) {
    *cancel = *r;
    return std::nullopt;
  }
  if (HandsBack(r.status())) return Resume(r.status());
  if (r.status().code() == StatusCode::kConflict) {
    Log(fmt::format("Job #{} lost its lease (rescued or reset elsewhere); stopping it here",
                    job_.id));
    return JobOutcome::kLostLease;
  }
  if (r.status().code() == StatusCode::kTransient) {  // stopping while the database fails
    Log(
        fmt::format("Job #{} stops with its last chunk unwritten ({}); it resumes at {} once "
                    "this worker is gone",
                    job_.id, r.status().message(), next));
    return JobOutcome::kLostLease;
  }
  return Fail(r.status());
}

void HeatmapRun::LogProgress(const CheckpointProgress& p) const {
  // The job's progress (all its parts): the checkpoint that crosses a step says so, whichever
  // part and process wrote it, so each line appears once per job.
  const int64_t total = job_.total_items;
  if (total <= 0 || p.done_after >= total) return;
  const int step = std::max(1, opts_.progress_step_percent);
  const int before = int(100 * p.done_before / total) / step;
  const int pct = int(100 * p.done_after / total);
  if (pct / step > before) {
    Log(fmt::format("Job #{} progress: {}% ({}/{} cells)", job_.id, pct, p.done_after, total));
  }
}

Result<std::shared_ptr<const ModelIndex>> HeatmapRun::BuildIndex(const HeatmapMetadata& meta) {
  auto index = RetryTransient(env_, What("load the POIs and walk network"), stop_,
                              [&] { return LoadModelIndex(store_, meta.bounds, meta.model); });
  if (!index.ok()) return index.status();
  if (const WalkIndex* walk = index->walk()) {
    Log(fmt::format(
        "Job #{}: walk network of {} nodes, {} edges; graph {:.0f} ms, searches {:.0f} ms", job_.id,
        walk->graph().size(), walk->graph().arcs() / 2, walk->graph_seconds() * 1000,
        walk->search_seconds() * 1000));
  }
  return std::make_shared<const ModelIndex>(std::move(index).value());
}

Result<std::shared_ptr<const ModelIndex>> HeatmapRun::LoadIndex(const HeatmapMetadata& meta) {
  if (shared_) return shared_;
  // The job's own index, shared with the job's other parts running in this process.
  IndexCache::Build build = [&] { return BuildIndex(meta); };
  if (opts_.index_cache) return opts_.index_cache->Get(job_.id, build);
  return build();
}

JobOutcome HeatmapRun::Finish(int64_t begin, int64_t end) {
  auto done = RetryTransient(env_, What("complete"), stop_, [&] {
    return store_->CompletePart(job_.id, job_.part, opts_.worker_id, end);
  });
  if (!done.ok()) {
    if (HandsBack(done.status())) return Resume(done.status());
    if (done.status().code() == StatusCode::kConflict) return JobOutcome::kLostLease;
    return Fail(done.status());
  }
  return Finished(begin, end, *done);
}

JobOutcome HeatmapRun::Finished(int64_t begin, int64_t end, bool job_completed) {
  if (job_completed) {
    if (opts_.index_cache) opts_.index_cache->Forget(job_.id);
    Log(fmt::format("Job #{} completed - {} cells processed", job_.id, job_.total_items));
  } else {
    Log(fmt::format("Job #{} part {} of {} done (cells {}-{})", job_.id, job_.part + 1,
                    job_.part_count, begin, end - 1));
  }
  return JobOutcome::kCompleted;
}

std::optional<JobOutcome> HeatmapRun::Start(Plan* plan) {
  if (!IsHeatmapJobType(job_.type)) {
    return Fail(Status::Invalid(fmt::format("unknown job type '{}'", job_.type)));
  }
  auto meta = DecodeHeatmapMetadata(job_);
  if (!meta.ok()) return Fail(meta.status());
  auto region = GridRegion::Make(meta->bounds, meta->grid_step);
  if (!region.ok()) return Fail(region.status());
  const int64_t total = region->cell_count();
  // The part's cells [begin, end), resuming at next (a whole job: its lastProcessedIndex).
  const bool whole = job_.part_end < 0;
  plan->begin = whole ? 0 : std::clamp<int64_t>(job_.part_begin, 0, total);
  plan->end = whole ? total : std::clamp<int64_t>(job_.part_end, plan->begin, total);
  plan->next = std::clamp<int64_t>(whole ? meta->last_processed_index : job_.part_next, plan->begin,
                                   plan->end);
  plan->meta = std::move(meta).value();
  plan->region.emplace(std::move(region).value());

  if (job_.starts_job) {
    const int64_t done = job_.last_processed_index();
    Log(fmt::format("Started job #{} ({}) - {} items{}", job_.id, job_.type, total,
                    done > 0 ? fmt::format(" (resuming at {})", done) : ""));
  }
  if (opts_.on_job_start) opts_.on_job_start(job_);
  auto index = LoadIndex(plan->meta);
  if (!index.ok()) return Fail(index.status());
  plan->index = std::move(index).value();
  data_version_ = plan->index->data_version();
  return std::nullopt;
}

JobOutcome HeatmapRun::RunPlanned(const Plan& p) {
  if (p.end - p.next <= std::max<int64_t>(1, opts_.chunk_size)) {
    return RunOneChunk(*p.region, p.meta.model, *p.index, p.begin, p.next, p.end);
  }
  return RunChunks(*p.region, p.meta.model, *p.index, p.begin, p.next, p.end);
}

JobOutcome HeatmapRun::Run() {
  Plan plan;
  if (auto out = Start(&plan)) return *out;
  return RunPlanned(plan);
}

void HeatmapRun::PrepareWrite(const Plan& p, std::vector<uint8_t>* scores,
                              CheckpointCompletion* done, CheckpointProgress* progress,
                              Checkpoint* cp) const {
  scores->resize(static_cast<size_t>(p.end - p.next));
  p.index->ScoreCells(*p.region, p.next, p.end, scores->data());
  cp->job_id = job_.id;
  cp->part = job_.part;
  cp->worker_id = opts_.worker_id;
  cp->region = &*p.region;
  cp->begin = p.next;
  cp->scores = *scores;
  cp->city_id = job_.city_id;
  cp->model = p.meta.model;
  cp->progress = progress;
  cp->complete = done;
  cp->data_version = p.index->data_version();
}

JobOutcome HeatmapRun::Written(const Plan& p, const Result<bool>& r,
                               const CheckpointCompletion& done, const CheckpointProgress& progress,
                               int64_t start_steady_ms) {
  if (!r.ok()) {
    if (HandsBack(r.status())) return Resume(r.status());
    if (r.status().code() == StatusCode::kConflict) {
      Log(fmt::format("Job #{} lost its lease (rescued or reset elsewhere); stopping it here",
                      job_.id));
      return JobOutcome::kLostLease;
    }
    if (r.status().code() == StatusCode::kInvalidArgument) return Fail(r.status());
    return RunPlanned(p);  // anything else: the part alone, with its own retries
  }
  LogProgress(progress);
  if (opts_.on_chunk) {
    opts_.on_chunk(job_.id, p.end - p.next,
                   double(env_.clock->SteadyMs() - start_steady_ms) / 1000.0);
  }
  if (opts_.on_checkpoint) opts_.on_checkpoint(job_.id, p.end);
  if (done.done) return Finished(p.begin, p.end, done.job_completed);
  return Finish(p.begin, p.end);
}

JobOutcome HeatmapRun::RunOneChunk(const GridRegion& region, HeatModel model,
                                   const ModelIndex& index, int64_t begin, int64_t next,
                                   int64_t end) {
  if (next < end) {
    if (stop_ && stop_->load()) return HandBack();
    const int64_t start = env_.clock->SteadyMs();
    std::vector<uint8_t> scores(static_cast<size_t>(end - next));
    index.ScoreCells(region, next, end, scores.data());
    CommitOrder order(next);  // the only chunk: its turn at once
    bool cancel = false;
    CheckpointProgress progress;
    CheckpointCompletion completion;  // the part completes with its last chunk
    if (auto out =
            WriteChunk(region, model, next, scores, &order, &cancel, &progress, &completion)) {
      return *out;
    }
    LogProgress(progress);
    if (opts_.on_chunk) {
      opts_.on_chunk(job_.id, end - next, double(env_.clock->SteadyMs() - start) / 1000.0);
    }
    if (opts_.on_checkpoint) opts_.on_checkpoint(job_.id, end);
    // A cancel seen by the last chunk: the part is done anyway (as in RunChunks).
    if (completion.done) return Finished(begin, end, completion.job_completed);
  }
  return Finish(begin, end);
}

JobOutcome HeatmapRun::RunChunks(const GridRegion& region, HeatModel model, const ModelIndex& index,
                                 int64_t begin, int64_t next, int64_t end) {
  // Chunk n is scored while chunk n-1 is written; chunk n+1 travels to the database while
  // chunk n commits (two ChunkWriters). The checkpoint contract is unchanged: chunks commit one
  // after the other (CommitOrder), each with its own progress, and at most two are in flight.
  const int64_t chunk = std::max<int64_t>(1, opts_.chunk_size);
  std::vector<uint8_t> buffers[2];
  buffers[0].resize(size_t(std::max<int64_t>(1, std::min(chunk, end - begin))));
  buffers[1].resize(buffers[0].size());
  CommitOrder order(next);
  const ChunkWriter::Write write = [&](int64_t at, std::span<const uint8_t> scores, bool* cancel,
                                       CheckpointProgress* progress) {
    std::optional<JobOutcome> out = WriteChunk(region, model, at, scores, &order, cancel, progress);
    if (out || *cancel) {  // a cancelled run stops here: the chunk after rolls back
      order.Break();
    } else {
      order.Advance(at + static_cast<int64_t>(scores.size()));
    }
    return out;
  };
  ChunkWriter writers[2] = {ChunkWriter(write), ChunkWriter(write)};
  int64_t chunk_start = env_.clock->SteadyMs();
  // Bookkeeping of a committed chunk, in chunk order; returns the cells committed up to.
  auto account = [&](const ChunkWriter::Result& w) {
    LogProgress(w.progress);
    const int64_t now = env_.clock->SteadyMs();
    if (opts_.on_chunk) opts_.on_chunk(job_.id, w.cells, double(now - chunk_start) / 1000.0);
    chunk_start = now;
    if (opts_.on_checkpoint) opts_.on_checkpoint(job_.id, w.begin + w.cells);
    return w.begin + w.cells;
  };
  // A written chunk, taken in chunk order; an outcome when the run ends there. `later` holds
  // the chunk after it (if any), which is waited for before the run ends.
  auto written = [&](const ChunkWriter::Result& w,
                     ChunkWriter& later) -> std::optional<JobOutcome> {
    if (!w.any) return std::nullopt;
    if (w.end) {
      later.Wait();  // it rolls back (CommitOrder::Break)
      return w.end;
    }
    const int64_t done_to = account(w);
    if (!w.cancel) return std::nullopt;
    later.Wait();  // it rolls back: a cancelled run stops at the chunk that saw the cancel
    if (done_to < end) return HandBack();
    return std::nullopt;  // cancelled after the last chunk: done anyway
  };
  int k = 0;  // the writer of the next chunk; the other one holds the chunk before it
  for (; next < end; k ^= 1) {
    if (stop_ && stop_->load()) break;
    if (auto out = written(writers[k].Wait(), writers[k ^ 1])) return *out;
    const int64_t n = std::min(chunk, end - next);
    index.ScoreCells(region, next, next + n, buffers[k].data());
    writers[k].Submit(next, std::span<const uint8_t>(buffers[k].data(), size_t(n)));
    next += n;
  }
  if (auto out = written(writers[k].Wait(), writers[k ^ 1])) return *out;
  if (auto out = written(writers[k ^ 1].Wait(), writers[k])) return *out;
  if (next < end) return HandBack();  // stopped
  return Finish(begin, end);
}

}  // namespace

void LogTransientRetry(const Env& env, std::string_view what, int64_t delay_ms, const Status& s) {
  env.log->info(
      fmt::format("Database error during {} (retrying in {} ms): {}", what, delay_ms, s.message()));
}

Result<std::shared_ptr<const ModelIndex>> IndexCache::Get(int64_t job_id, const Build& build) {
  std::lock_guard<std::mutex> l(mu_);
  // The last index is kept for the job's next part, not for a job that may return much later
  // (a retry after a new import must see the new data).
  const auto now = std::chrono::steady_clock::now();
  if (last_ && now - last_used_ > kKeepLast) last_.reset();
  std::erase_if(cache_, [](const auto& e) { return e.second.expired(); });
  if (auto it = cache_.find(job_id); it != cache_.end()) {
    if (auto held = it->second.lock()) {
      if (job_id == last_job_) last_used_ = now;
      return held;
    }
  }
  auto built = build();
  if (built.ok()) {
    cache_[job_id] = *built;
    last_job_ = job_id;
    last_ = *built;
    last_used_ = std::chrono::steady_clock::now();
  }
  return built;
}

void IndexCache::Forget(int64_t job_id) {
  std::lock_guard<std::mutex> l(mu_);
  if (last_job_ == job_id) last_.reset();
}

namespace {

void RunEnded(const Env& env, const Job& job, const JobRunOptions& opts, JobOutcome outcome,
              int64_t start_steady_ms) {
  // A run that did not end in a completed part or a hand-back leaves no next part to come soon.
  if (opts.index_cache && outcome != JobOutcome::kCompleted && outcome != JobOutcome::kHandedBack) {
    opts.index_cache->Forget(job.id);
  }
  if (opts.on_job_end) {
    opts.on_job_end(job, outcome, double(env.clock->SteadyMs() - start_steady_ms) / 1000.0);
  }
}

}  // namespace

JobOutcome RunHeatmapJob(Store* store, const Env& env, const Job& job, const JobRunOptions& opts,
                         const std::atomic<bool>* stop) {
  const int64_t start = env.clock->SteadyMs();
  const JobOutcome outcome = HeatmapRun(store, env, job, opts, stop).Run();
  RunEnded(env, job, opts, outcome, start);
  return outcome;
}

std::vector<JobOutcome> RunSmallHeatmapJobs(Store* store, const Env& env, std::span<const Job> jobs,
                                            const JobRunOptions& opts,
                                            const std::atomic<bool>* stop) {
  struct Item {
    std::unique_ptr<HeatmapRun> run;
    HeatmapRun::Plan plan;
    std::optional<JobOutcome> outcome;  // set: ended before the batch's write
    std::vector<uint8_t> scores;
    CheckpointCompletion done;
    CheckpointProgress progress;
    Checkpoint cp;
    int64_t start = 0;
  };
  const int64_t chunk = std::max<int64_t>(1, opts.chunk_size);
  std::vector<Item> items(jobs.size());
  // One index for the batch's jobs of a model lying close together.
  const std::vector<std::shared_ptr<const ModelIndex>> shared = SharedJobIndexes(store, jobs);
  std::vector<Checkpoint> cps;
  std::vector<size_t> written;  // items[written[k]] wrote cps[k]
  cps.reserve(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    Item& it = items[i];
    it.start = env.clock->SteadyMs();
    it.run = std::make_unique<HeatmapRun>(store, env, jobs[i], opts, stop, shared[i]);
    if ((it.outcome = it.run->Start(&it.plan))) continue;
    const bool one_chunk = it.plan.next < it.plan.end && it.plan.end - it.plan.next <= chunk;
    if (!one_chunk || (stop && stop->load())) {  // not for the batch: its own run
      it.outcome = it.run->RunPlanned(it.plan);
      continue;
    }
    it.run->PrepareWrite(it.plan, &it.scores, &it.done, &it.progress, &it.cp);
    written.push_back(i);
  }
  // One order of the locks the writes take (a grid step and model's overview lock), whichever
  // worker writes: no two batches wait on each other in a cycle.
  std::stable_sort(written.begin(), written.end(), [&](size_t a, size_t b) {
    const Checkpoint &x = items[a].cp, &y = items[b].cp;
    return std::make_pair(x.region->step(), x.model) < std::make_pair(y.region->step(), y.model);
  });
  for (size_t i : written) cps.push_back(items[i].cp);
  if (!cps.empty()) {
    auto r = RetryTransient(env, "checkpoint of a batch of small jobs", stop,
                            [&] { return store->WriteCheckpoints(cps); });
    if (r.ok() && opts.on_batch_written) opts.on_batch_written(cps.size());
    const bool stopping = !r.ok() && stop && stop->load();
    if (stopping) {
      env.log->info(
          fmt::format("{} small job(s) stop unwritten ({}); they resume once this worker "
                      "is gone",
                      written.size(), r.status().message()));
    }
    for (size_t k = 0; k < written.size(); ++k) {
      Item& it = items[written[k]];
      // A batch that failed as a whole wrote nothing: each part then runs alone, unless the
      // worker stops (a database that is down would hold the stop for each part's retries).
      it.outcome = r.ok()     ? it.run->Written(it.plan, (*r)[k], it.done, it.progress, it.start)
                   : stopping ? JobOutcome::kLostLease
                              : it.run->RunPlanned(it.plan);
    }
  }
  std::vector<JobOutcome> out;
  for (size_t i = 0; i < jobs.size(); ++i) {
    out.push_back(*items[i].outcome);
    RunEnded(env, jobs[i], opts, *items[i].outcome, items[i].start);
  }
  return out;
}

std::string_view JobOutcomeId(JobOutcome o) {
  switch (o) {
    case JobOutcome::kCompleted:
      return "completed";
    case JobOutcome::kCancelled:
      return "cancelled";
    case JobOutcome::kHandedBack:
      return "handed_back";
    case JobOutcome::kFailed:
      return "failed";
    case JobOutcome::kLostLease:
      break;
  }
  return "lost_lease";
}

}  // namespace nbi
