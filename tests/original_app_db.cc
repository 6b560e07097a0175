#include "original_app_db.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <stdexcept>

namespace nbi::testing {

namespace {

// As the original's migrations leave them (SPEC §2a). The three caches the engine leaves
// alone stand in with a few columns each.
constexpr const char* kOriginalSchema = R"sql(
CREATE TABLE cities (
  id serial PRIMARY KEY NOT NULL,
  slug varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  country varchar(2) NOT NULL,
  lat real NOT NULL,
  lng real NOT NULL,
  min_lat real,
  max_lat real,
  min_lng real,
  max_lng real,
  population integer,
  timezone varchar(100),
  created_at timestamp DEFAULT now() NOT NULL,
  updated_at timestamp DEFAULT now() NOT NULL,
  CONSTRAINT cities_slug_unique UNIQUE(slug));
CREATE INDEX cities_country_idx ON cities (country);
CREATE INDEX cities_coords_idx ON cities (lat, lng);
CREATE TABLE heat_cells (
  id serial PRIMARY KEY NOT NULL,
  lat real NOT NULL,
  lng real NOT NULL,
  score integer NOT NULL,
  grid_step real DEFAULT 0.01 NOT NULL,
  city_id integer,
  computed_at timestamp DEFAULT now() NOT NULL);
ALTER TABLE heat_cells ADD CONSTRAINT heat_cells_city_id_cities_id_fk
  FOREIGN KEY (city_id) REFERENCES cities(id);
CREATE INDEX heat_cells_bounds_idx ON heat_cells (lat, lng);
CREATE INDEX heat_cells_city_idx ON heat_cells (city_id);
CREATE UNIQUE INDEX heat_cells_coords_step_idx ON heat_cells (lat, lng, grid_step);
CREATE TABLE jobs (
  id serial PRIMARY KEY NOT NULL,
  type varchar(50) NOT NULL,
  status varchar(20) DEFAULT 'pending' NOT NULL,
  city_id integer,
  progress integer DEFAULT 0,
  total_items integer,
  error text,
  metadata jsonb,
  created_at timestamp DEFAULT now() NOT NULL,
  started_at timestamp,
  completed_at timestamp);
ALTER TABLE jobs ADD CONSTRAINT jobs_city_id_cities_id_fk
  FOREIGN KEY (city_id) REFERENCES cities(id);
CREATE INDEX jobs_status_idx ON jobs (status);
CREATE INDEX jobs_type_idx ON jobs (type);
CREATE TABLE overture_pois (
  id text PRIMARY KEY NOT NULL,
  name text,
  category text NOT NULL,
  subcategory text,
  lat real NOT NULL,
  lng real NOT NULL,
  confidence real,
  source text,
  tags jsonb,
  imported_at timestamp DEFAULT now());
CREATE INDEX overture_pois_coords_idx ON overture_pois (lat, lng);
CREATE INDEX overture_pois_category_idx ON overture_pois (category);
CREATE INDEX overture_pois_category_coords_idx ON overture_pois (category, lat, lng);
CREATE TABLE point_score_cache (
  id serial PRIMARY KEY NOT NULL, lat real NOT NULL, lng real NOT NULL, result jsonb NOT NULL,
  created_at timestamp DEFAULT now() NOT NULL);
CREATE TABLE vibe_cache (
  id serial PRIMARY KEY NOT NULL, key text NOT NULL UNIQUE, value jsonb NOT NULL);
CREATE TABLE rate_limits (key text PRIMARY KEY NOT NULL, count integer NOT NULL,
  reset_at timestamp NOT NULL);
)sql";

// Its metadata of a job: {"bounds": {...}, "gridStep": s, "lastProcessedIndex": n}.
std::string Metadata(const BBox& b, double step, int64_t done) {
  return fmt::format(R"({{"bounds": {{"minLat": {}, "maxLat": {}, "minLng": {}, "maxLng": {}}}, )"
                     R"("gridStep": {}, "lastProcessedIndex": {}}})",
                     b.min_lat, b.max_lat, b.min_lng, b.max_lng, step, done);
}

// The original's worker's cells of the old Tulum job: its grid includes the upper edges
// (lat = minLat + i * step in JavaScript doubles), written with its upsert.
std::string OldCells() {
  std::string sql;
  for (int i = 0; i * kStep <= kOldArea.max_lat - kOldArea.min_lat + 1e-9; ++i) {
    for (int j = 0; j * kStep <= kOldArea.max_lng - kOldArea.min_lng + 1e-9; ++j) {
      sql += fmt::format(
          "INSERT INTO heat_cells (lat, lng, score, grid_step, city_id) VALUES ({}, {}, {}, {}, "
          "(SELECT id FROM cities WHERE slug = 'tulum')) ON CONFLICT (lat, lng, grid_step) DO "
          "UPDATE SET score = excluded.score, computed_at = now();\n",
          kOldArea.min_lat + i * kStep, kOldArea.min_lng + j * kStep, (i * 7 + j * 13) % 101,
          kStep);
    }
  }
  return sql;
}

PGconn* Connect(const std::string& url) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("connect: " + e);
  }
  return c;
}

}  // namespace

std::vector<OverturePlace> OriginalPlaces() {
  struct Kind {
    const char* primary;
    std::vector<std::string> alternate;
  };
  const std::vector<Kind> kinds = {
      {"supermarket", {}},
      {"convenience_store", {}},
      {"restaurant", {}},
      {"grocery_store", {}},
      {"cafe", {}},
      {"park", {}},
      {"fast_food_restaurant", {}},
      {"gym", {}},
      {"pharmacy", {}},
      {"bar", {}},
      {"playground", {}},
      {"dentist", {}},
      {"gas_station", {}},
      {"bus_stop", {}},
      {"school", {}},
      {"cinema", {}},
      {"clothing_store", {}},
      {"hospital", {}},
      {"beach", {}},
      {"hotel", {}},
      {"real_estate_agent", {}},
      {"greengrocer", {}},
  };
  std::vector<OverturePlace> out;
  uint64_t x = 12345;
  auto next = [&x] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 53);
  };
  for (int k = 0; k < 66; ++k) {
    const Kind& kind = kinds[k % kinds.size()];
    const double lat = 20.596 + 0.028 * next();
    const double lng = -87.084 + 0.028 * next();
    out.push_back({fmt::format("08f{:013x}", 0x4a1000 + k), fmt::format("Place {}", k),
                   kind.primary, kind.alternate, fmt::format("{:.4f}", lat),
                   fmt::format("{:.4f}", lng)});
  }
  return out;
}

int64_t PlacedCount() {
  int64_t n = 0;
  for (const OverturePlace& p : OriginalPlaces()) {
    n += p.category == "beach" || p.category == "real_estate_agent" || p.category == "hotel" ||
                 p.category == "gas_station"
             ? 0
             : 1;
  }
  return n;
}

void BuildOriginalAppDatabase(const std::string& url, const OriginalAppData& data) {
  std::string sql = kOriginalSchema;
  sql +=
      "INSERT INTO cities (slug, name, country, lat, lng, min_lat, max_lat, min_lng, max_lng, "
      "population, timezone) VALUES "
      "('cancun', 'Cancún', 'MX', 21.1619, -86.8515, 20.8, 21.4, -87.2, -86.5, 888797, "
      "'America/Cancun'), "
      "('tulum', 'Tulum', 'MX', 20.2114, -87.4654, 20.15, 20.25, -87.5, -87.4, 46721, "
      "'America/Cancun');\n";
  sql += OldCells();
  // Its finished jobs, a week and more old (it never pruned them).
  sql += fmt::format(
      "INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, created_at, "
      "started_at, completed_at) VALUES ('heatmap_compute', 'completed', (SELECT id FROM cities "
      "WHERE slug = 'tulum'), 100, 25, '{}', now() - interval '10 days', now() - interval '10 "
      "days', now() - interval '10 days');\n",
      Metadata(kOldArea, kStep, 25));
  sql += fmt::format(
      "INSERT INTO jobs (type, status, city_id, progress, total_items, error, metadata, "
      "created_at, started_at, completed_at) VALUES ('heatmap_compute', 'failed', NULL, 40, 121, "
      "'Overture fetch failed', '{}', now() - interval '9 days', now() - interval '9 days', "
      "now() - interval '9 days');\n",
      Metadata({20.5, -87.2, 20.525, -87.175}, kStep, 48));
  for (const OverturePlace& p : OriginalPlaces()) {
    std::string tags = "NULL";
    if (!p.alternate.empty()) {
      tags = "'{\"alternate\": [";
      for (size_t i = 0; i < p.alternate.size(); ++i) {
        tags += (i ? ", \"" : "\"") + p.alternate[i] + "\"";
      }
      tags += "]}'";
    }
    sql += fmt::format(
        "INSERT INTO overture_pois (id, name, category, lat, lng, confidence, source, tags) "
        "VALUES ('{}', '{}', '{}', {}, {}, 0.9, 'meta', {});\n",
        p.id, p.name, p.category, p.lat, p.lng, tags);
  }
  if (data.running_job_started_min_ago >= 0) {
    sql += fmt::format(
        "INSERT INTO jobs (type, status, city_id, progress, total_items, metadata, started_at) "
        "VALUES ('heatmap_compute', 'running', NULL, 30, {}, '{}', "
        "(now() AT TIME ZONE 'UTC') - interval '{} minutes');\n",
        kOriginalJobCount, Metadata(kJobArea, kStep, 24), data.running_job_started_min_ago);
  }
  QueryRows(url, sql);
  if (data.pending_job) InsertOriginalJob(url, kJobArea, kStep);
}

int64_t InsertOriginalJob(const std::string& url, const BBox& bounds, double step,
                          const std::string& city_id_sql) {
  // Its own count: the box's upper edges included.
  const int64_t rows = static_cast<int64_t>((bounds.max_lat - bounds.min_lat) / step + 1e-9) + 1;
  const int64_t cols = static_cast<int64_t>((bounds.max_lng - bounds.min_lng) / step + 1e-9) + 1;
  return std::stoll(QueryOne(
      url, fmt::format("INSERT INTO jobs (type, status, city_id, progress, total_items, metadata) "
                       "VALUES ('heatmap_compute', 'pending', {}, 0, {}, '{}') RETURNING id",
                       city_id_sql, rows * cols, Metadata(bounds, step, 0))));
}

std::vector<int64_t> OriginalDuplicateQuery(const std::string& url, const std::string& city_id_sql,
                                            const std::string& grid_step_text) {
  std::string sql =
      "SELECT id FROM jobs WHERE type = 'heatmap_compute' AND status IN ('pending', 'running') "
      "AND metadata->>'gridStep' = '" +
      grid_step_text + "'";
  if (city_id_sql != "NULL") sql += " AND city_id = " + city_id_sql;
  std::vector<int64_t> ids;
  for (const auto& row : QueryRows(url, sql + " ORDER BY id")) ids.push_back(std::stoll(row[0]));
  return ids;
}

std::vector<std::vector<std::string>> QueryRows(const std::string& url, const std::string& sql) {
  PGconn* c = Connect(url);
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  std::vector<std::vector<std::string>> rows;
  if (st == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
      rows.push_back(std::move(row));
    }
  }
  std::string e = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error("sql: " + e);
  return rows;
}

std::string QueryOne(const std::string& url, const std::string& sql) {
  auto rows = QueryRows(url, sql);
  if (rows.empty() || rows[0].empty()) throw std::runtime_error("no row: " + sql);
  return rows[0][0];
}

}  // namespace nbi::testing
