// The original app's PostgreSQL database, built exactly as SPEC §2a lists it (its
// migrations' tables, constraint and index names, NOT NULL columns and defaults) and filled
// the way the original app fills it: cities with their NOT NULL lat/lng, the cells of an old
// job under its unique index heat_cells_coords_step_idx, finished jobs more than a week old,
// a job enqueued with only the columns its web app sets (no model; its own cell count, which
// includes the box's upper edges), and places in overture_pois in Overture categories.
// PostgreSQL only: the original app never ran on SQLite.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "geo/geo.h"

namespace nbi::testing {

// One place of overture_pois. lat/lng are text with 4 decimals: the same text in a CSV or
// GeoJSON file gives the same doubles as the original's real columns read back.
struct OverturePlace {
  std::string id, name, category;
  std::vector<std::string> alternate;
  std::string lat, lng;
};

// The area of the enqueued job (Playa del Carmen, 0.02 degrees at step 0.0025: 8 x 8 cells for
// the engine, 9 x 9 = 81 for the original's count) and of the old job's cells (Tulum).
inline constexpr double kStep = 0.0025;
inline const BBox kJobArea{20.60, -87.08, 20.62, -87.06};
inline const BBox kOldArea{20.20, -87.47, 20.21, -87.46};
inline constexpr int64_t kOriginalJobCount = 81;
inline constexpr int64_t kEngineJobCount = 64;

struct OriginalAppData {
  bool pending_job = true;  // the web app's enqueued job over kJobArea
  // A job its worker left `running` (no owner the engine knows), started this many minutes
  // ago; < 0: none.
  int running_job_started_min_ago = -1;
};

// The places around kJobArea: mapped ones in most categories (some only through
// categories.alternate) and a few outside the mapping.
std::vector<OverturePlace> OriginalPlaces();
// How many of OriginalPlaces() the mapping places (the others: unplaced).
int64_t PlacedCount();

// Creates the original's tables in the (empty) database behind `url` and fills them.
void BuildOriginalAppDatabase(const std::string& url, const OriginalAppData& data = {});

// Enqueues a job as the original's web app does (one INSERT of the columns it sets); returns
// its id.
int64_t InsertOriginalJob(const std::string& url, const BBox& bounds, double step,
                          const std::string& city_id_sql = "NULL");
// The original's duplicate check before an enqueue: the ids of pending or running
// heatmap_compute jobs of that city (when given) and metadata->>'gridStep'.
std::vector<int64_t> OriginalDuplicateQuery(const std::string& url, const std::string& city_id_sql,
                                            const std::string& grid_step_text);

// Rows of a query, each as its columns' text ("" for NULL); throws on an error.
std::vector<std::vector<std::string>> QueryRows(const std::string& url, const std::string& sql);
std::string QueryOne(const std::string& url, const std::string& sql);

}  // namespace nbi::testing
