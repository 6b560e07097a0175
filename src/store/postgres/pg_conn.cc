// libpq plumbing of the PostgreSQL store. See pg_conn.h.
#include "store/postgres/pg_conn.h"

#include <endian.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_map>

#include "store/store.h"

namespace nbi {

namespace {

// Idle connections kept; more may be open while many threads are inside the store at once.
constexpr size_t kMaxIdleConnections = 8;

// libpq's own messages span lines (with tabs); keep log lines single.
std::string Flatten(const std::string& msg) {
  std::string flat;
  for (char ch : msg) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!flat.empty() && flat.back() != ' ') flat += ' ';
    } else {
      flat += ch;
    }
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  return flat;
}

// What to do about a read-only server (25006): usually DATABASE_URL names a standby.
constexpr std::string_view kReadOnlyHint =
    " -- this server is read-only (a standby, or default_transaction_read_only): point "
    "DATABASE_URL at the primary, or list every host with target_session_attrs=read-write "
    "(postgresql://db1,db2/nearbyindex?target_session_attrs=read-write) so that the engine "
    "finds the primary after a failover";

// Maps a libpq failure onto the store's error categories (store.h). Sets *broken when the
// connection itself is gone: no SQLSTATE at all (libpq's own "server closed the connection
// unexpectedly"), class 08, or the server shutting the session down (57P01..57P03, and 25P03:
// an idle transaction over its idle_in_transaction_session_timeout).
Status PgFailure(PGconn* pg, const PGresult* r, std::string_view what, bool* broken) {
  const char* state_c = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view state = state_c ? state_c : "";
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string msg = primary ? primary : PQerrorMessage(pg);
  if (detail) msg += fmt::format(" ({})", detail);
  std::string text = fmt::format("postgres {}: {}", what, Flatten(msg));
  if (state.empty() || PQstatus(pg) == CONNECTION_BAD || state.substr(0, 2) == "08" ||
      state == "57P01" || state == "57P02" || state == "57P03" || state == "25P03") {
    *broken = true;
    return Status::Transient(text);
  }
  // Serialization failures and deadlocks; a lock or statement over its timeout (55P03,
  // 57014); a read-only database (25006); insufficient resources: disk full, out of memory,
  // too many connections (class 53). All pass or are repaired while the program runs.
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014" ||
      state == "25006" || state.substr(0, 2) == "53") {
    if (state == "25006") text += kReadOnlyHint;
    return Status::Transient(text);
  }
  // A unique violation; NB001: the job an owner-checked write belongs to no longer runs.
  if (state == "23505" || state == "NB001" || state == "NB002") return Status::Conflict(text);
  // Data exceptions (bad encoding, out-of-range numbers) and rejected references are input
  // errors, not bugs.
  if (state.substr(0, 2) == "22" || state == "23502" || state == "23503" || state == "23514") {
    return Status::Invalid(text);
  }
  return Status::Internal(text);
}

void IgnoreNotice(void*, const char*) {}

std::string TrimNewlines(std::string msg) {
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  return msg;
}

}  // namespace

// ------------------------------------------------------------------ binary COPY

void PgBinaryCopy::Header() {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
  buf_.append(kSignature, sizeof kSignature);
  Put32(0);  // flags
  Put32(0);  // header extension length
}

void PgBinaryCopy::Float4(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Put32(4);
  Put32(bits);
}

void PgBinaryCopy::Float8(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Put32(8);
  Put64(bits);
}

void PgBinaryCopy::Put16(uint16_t v) {
  v = htobe16(v);
  buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PgBinaryCopy::Put32(uint32_t v) {
  v = htobe32(v);
  buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PgBinaryCopy::Put64(uint64_t v) {
  v = htobe64(v);
  buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
}

namespace {
uint32_t ReadBe32(std::string_view v) {
  uint32_t bits;
  std::memcpy(&bits, v.data(), sizeof bits);
  return be32toh(bits);
}
}  // namespace

Status PgBinaryCopyReader::Start() {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
  std::string_view sig, flags, ext_len, ext;
  if (!Take(sizeof kSignature, &sig) || sig != std::string_view(kSignature, sizeof kSignature) ||
      !Take(4, &flags) || !Take(4, &ext_len) || !Take(ReadBe32(ext_len), &ext)) {
    Fail("no binary COPY header");
  }
  return status_;
}

bool PgBinaryCopyReader::Next() {
  fields_.clear();
  if (!status_.ok()) return false;
  std::string_view count;
  if (!Take(2, &count)) return Fail("no trailer");
  const auto n = static_cast<int16_t>(static_cast<uint16_t>(
      (static_cast<unsigned char>(count[0]) << 8) | static_cast<unsigned char>(count[1])));
  if (n == -1) return false;  // the trailer
  if (n < 0) return Fail("a negative field count");
  for (int16_t k = 0; k < n; ++k) {
    std::string_view len, value;
    if (!Take(4, &len)) return Fail("a truncated row");
    const auto size = static_cast<int32_t>(ReadBe32(len));
    if (size == -1) {
      fields_.emplace_back(std::nullopt);
      continue;
    }
    if (size < 0 || !Take(static_cast<size_t>(size), &value)) return Fail("a truncated value");
    fields_.emplace_back(value);
  }
  return true;
}

bool PgBinaryCopyReader::Take(size_t n, std::string_view* out) {
  if (data_.size() - pos_ < n) return false;
  *out = data_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool PgBinaryCopyReader::Fail(std::string_view what) {
  status_ = Status::Internal(std::string("binary COPY stream: ") + std::string(what));
  return false;
}

// ------------------------------------------------------------------ connection

Result<std::unique_ptr<PgConn>> PgConn::Connect(const std::string& conninfo,
                                                const std::string& setup) {
  // Earlier keywords are defaults the URL may override; the application name is only a
  // fallback so that PGAPPNAME or the URL still win.
  const char* const keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* const values[] = {"10", "nearbyindex", conninfo.c_str(), nullptr};
  PGconn* pg = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (PQstatus(pg) != CONNECTION_OK) {
    std::string msg = TrimNewlines(pg ? PQerrorMessage(pg) : "out of memory");
    PQfinish(pg);
    return Status::Transient(
        ScrubDatabaseSecrets("cannot connect to PostgreSQL: " + msg, conninfo));
  }
  // CREATE ... IF NOT EXISTS reports "already exists" as a NOTICE; libpq would print it.
  PQsetNoticeProcessor(pg, IgnoreNotice, nullptr);
  auto conn = std::make_unique<PgConn>(pg);
  if (!setup.empty()) {
    auto r = conn->Exec(setup.c_str(), "session setup");
    if (!r.ok())
      return Status(r.status().code(), ScrubDatabaseSecrets(r.status().message(), conninfo));
  }
  return conn;
}

Result<PgRows> PgConn::Exec(const PgSql& sql, const PgParams& params, bool binary_results) {
  const int format = binary_results ? 1 : 0;
  PgResultPtr r;
  if (sql.name) {
    if (!prepared_.contains(sql.name)) {
      PgResultPtr p(PQprepare(pg_, sql.name, sql.text, 0, nullptr));
      if (PQresultStatus(p.get()) != PGRES_COMMAND_OK) return Fail(p.get(), sql.name);
      prepared_.insert(sql.name);
    }
    r.reset(
        PQexecPrepared(pg_, sql.name, params.size(), params.pointers(), nullptr, nullptr, format));
  } else {
    r.reset(PQexecParams(pg_, sql.text, params.size(), nullptr, params.pointers(), nullptr, nullptr,
                         format));
  }
  return Check(std::move(r), sql.name ? sql.name : "statement");
}

Result<PgRows> PgConn::Exec(const char* sql, std::string_view what) {
  return Check(PgResultPtr(PQexec(pg_, sql)), what);
}

Result<std::vector<PgRows>> PgConn::Pipeline(std::span<const Step> steps) {
  if (PQenterPipelineMode(pg_) != 1) return Fail(nullptr, "pipeline");
  struct Sent {
    bool prepare;
    const char* name;
  };
  std::vector<Sent> sent;
  bool sent_all = true;
  for (const Step& s : steps) {
    const int n = s.params ? s.params->size() : 0;
    const char* const* values = s.params ? s.params->pointers() : nullptr;
    int ok = 0;
    if (s.sql->name) {
      if (!prepared_.contains(s.sql->name)) {
        if (PQsendPrepare(pg_, s.sql->name, s.sql->text, 0, nullptr) != 1) {
          sent_all = false;
          break;
        }
        sent.push_back({true, s.sql->name});
      }
      ok = PQsendQueryPrepared(pg_, s.sql->name, n, values, nullptr, nullptr, 0);
    } else {
      ok = PQsendQueryParams(pg_, s.sql->text, n, nullptr, values, nullptr, nullptr, 0);
    }
    if (ok != 1) {
      sent_all = false;
      break;
    }
    sent.push_back({false, s.sql->name ? s.sql->name : "statement"});
  }
  if (!sent_all || PQpipelineSync(pg_) != 1) {
    Status st = Fail(nullptr, "pipeline");
    broken = true;  // unknown state: never reused
    return st;
  }
  std::vector<PgRows> out;
  Status first_error = Status::Ok();
  for (const Sent& s : sent) {
    PgResultPtr r(PQgetResult(pg_));
    while (PGresult* end = PQgetResult(pg_)) PQclear(end);  // the NULL after each answer
    if (!first_error.ok()) continue;  // skipped by the server (PGRES_PIPELINE_ABORTED)
    if (s.prepare) {
      if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) {
        prepared_.insert(s.name);
      } else {
        first_error = Fail(r.get(), s.name);
      }
      continue;
    }
    auto rows = Check(std::move(r), s.name);
    if (rows.ok()) {
      out.push_back(std::move(rows).value());
    } else {
      first_error = rows.status();
    }
  }
  PgResultPtr sync(PQgetResult(pg_));  // PGRES_PIPELINE_SYNC
  if (PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(pg_) != 1) {
    broken = true;
    if (first_error.ok()) first_error = Fail(sync.get(), "pipeline");
  }
  if (!first_error.ok()) return first_error;
  return out;
}

Status PgConn::CopyIn(const char* copy_sql, std::string_view data) {
  NBI_RETURN_IF_ERROR(CopyStart(copy_sql));
  NBI_RETURN_IF_ERROR(CopyPut(data));
  return CopyFinish();
}

Status PgConn::CopyStart(const char* copy_sql) {
  PgResultPtr r(PQexec(pg_, copy_sql));
  if (PQresultStatus(r.get()) != PGRES_COPY_IN) return Fail(r.get(), "copy");
  return Status::Ok();
}

Status PgConn::CopyPut(std::string_view data) {
  // libpq takes an int length; feed large streams in slices.
  constexpr size_t kSlice = size_t{1} << 20;
  for (size_t off = 0; off < data.size(); off += kSlice) {
    size_t n = std::min(kSlice, data.size() - off);
    if (PQputCopyData(pg_, data.data() + off, static_cast<int>(n)) != 1) {
      return Fail(nullptr, "copy");
    }
  }
  return Status::Ok();
}

Status PgConn::CopyFinish() {
  if (PQputCopyEnd(pg_, nullptr) != 1) return Fail(nullptr, "copy");
  PgResultPtr r(PQgetResult(pg_));
  Status st = PQresultStatus(r.get()) == PGRES_COMMAND_OK ? Status::Ok() : Fail(r.get(), "copy");
  // Drain to the end of the command so the connection is usable again.
  while (PGresult* more = PQgetResult(pg_)) PQclear(more);
  return st;
}

Status PgConn::CopyOut(const std::string& copy_sql, std::string* out) {
  PgResultPtr r(PQexec(pg_, copy_sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_COPY_OUT) return Fail(r.get(), "copy out");
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(pg_, &buf, 0);
    if (n < 0) break;  // -1: the end; -2: an error, which the result below names
    out->append(buf, static_cast<size_t>(n));
    PQfreemem(buf);
  }
  PgResultPtr end(PQgetResult(pg_));
  Status st =
      PQresultStatus(end.get()) == PGRES_COMMAND_OK ? Status::Ok() : Fail(end.get(), "copy out");
  // Drain to the end of the command so the connection is usable again.
  while (PGresult* more = PQgetResult(pg_)) PQclear(more);
  return st;
}

Status PgConn::EnsureTempTable(bool* ready, const char* create_sql) {
  if (*ready) return Status::Ok();
  NBI_RETURN_IF_ERROR(Exec(create_sql).status());
  *ready = true;
  return Status::Ok();
}

Result<PgRows> PgConn::Check(PgResultPtr r, std::string_view what) {
  ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Fail(r.get(), what);
  return PgRows(std::move(r));
}

Status PgConn::Fail(const PGresult* r, std::string_view what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate = state ? state : "";
  return PgFailure(pg_, r, what, &broken);
}

// ------------------------------------------------------------------ transaction

PgTxn::~PgTxn() {
  if (open_) {
    // A failed ROLLBACK means the connection is gone; Exec has marked it broken.
    (void)c_.Exec(kRollback, "rollback");
  }
}

Status PgTxn::Begin() {
  NBI_RETURN_IF_ERROR(c_.Exec(kBegin, "begin").status());
  open_ = true;
  return Status::Ok();
}

Status PgTxn::Rollback() {
  if (!open_) return Status::Ok();
  open_ = false;
  return c_.Exec(kRollback, "rollback").status();
}

Status PgTxn::Commit() {
  open_ = false;
  NBI_ASSIGN_OR_RETURN(PgRows r, c_.Exec(kCommit, "commit"));
  // The server answers COMMIT of an aborted transaction with a successful "ROLLBACK".
  if (r.command_tag() != "COMMIT") return Status::Internal("postgres commit: rolled back");
  return Status::Ok();
}

// ------------------------------------------------------------------ pool

PgLease::~PgLease() {
  if (c_) pool_->Return(std::move(c_));
}

PgPool::PgPool(std::string conninfo, const StoreOptions& store_opts)
    : conninfo_(std::move(conninfo)),
      // SET, not libpq's `options`: a URL's own options (a search_path) would replace ours.
      session_setup_(fmt::format("SET lock_timeout = {}; SET statement_timeout = {}",
                                 store_opts.lock_timeout_ms, store_opts.statement_timeout_ms)) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), &err);
  if (!opts) {
    std::string msg = TrimNewlines(err ? err : "cannot parse");
    conninfo_error_ = ScrubDatabaseSecrets(
        fmt::format("DATABASE_URL is not a valid PostgreSQL URL: {}", msg), conninfo_);
  }
  PQconninfoFree(opts);
  PQfreemem(err);
}

PgPool::~PgPool() = default;

Result<PgLease> PgPool::Acquire() {
  if (!conninfo_error_.empty()) return Status::Invalid(conninfo_error_);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<PgConn> c = std::move(idle_.back());
      idle_.pop_back();
      return PgLease(this, std::move(c));
    }
  }
  return AcquireFresh();
}

Result<PgLease> PgPool::AcquireFresh() {
  if (!conninfo_error_.empty()) return Status::Invalid(conninfo_error_);
  NBI_ASSIGN_OR_RETURN(std::unique_ptr<PgConn> c, PgConn::Connect(conninfo_, session_setup_));
  return PgLease(this, std::move(c));
}

void PgPool::Return(std::unique_ptr<PgConn> c) {
  std::lock_guard<std::mutex> l(mu_);
  if (c->broken) {
    // A lost connection usually means a restarted server: the idle ones are dead too, and
    // the caller's retry should get a fresh connection rather than the next corpse.
    idle_.clear();
    return;
  }
  if (c->idle() && idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(c));
}

// ------------------------------------------------------------------ conninfo

std::string DescribeConninfo(const std::string& conninfo) {
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr);
  if (!opts) return "postgresql://(invalid)";
  std::unordered_map<std::string_view, std::string> v;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (o->val) v[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  std::string out = "postgresql://";
  if (!v["user"].empty()) out += v["user"] + "@";
  out += v["host"].empty() ? v["hostaddr"] : v["host"];
  if (!v["port"].empty()) out += ":" + v["port"];
  return ScrubDatabaseSecrets(out + "/" + v["dbname"], conninfo);
}

}  // namespace nbi
