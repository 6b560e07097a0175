// Store pieces shared by both backends: presets, POIs around a box, Open.
#include <fmt/format.h>

#include <algorithm>

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace nbi {

Result<std::vector<Poi>> LoadPoisAround(PoiStore* store, const BBox& box, double margin_m) {
  std::vector<Poi> all;
  for (const BBox& part : box.ExpandedWrapped(margin_m)) {
    NBI_ASSIGN_OR_RETURN(auto pois, store->LoadPois(part, -1));
    all.insert(all.end(), std::make_move_iterator(pois.begin()),
               std::make_move_iterator(pois.end()));
  }
  return all;
}

std::vector<City> PresetCities() {
  return {
      {0, "cancun", "Cancun", "MX", {20.8, -87.2, 21.4, -86.5}},
      {0, "liechtenstein", "Liechtenstein", "LI", {47.04, 9.47, 47.28, 9.64}},
      {0, "porto", "Porto (centre)", "PT", {41.12, -8.63, 41.16, -8.59}},
      {0, "andorra", "Andorra", "AD", {42.42, 1.40, 42.66, 1.79}},
      {0, "helsinki", "Helsinki (centre)", "FI", {60.16, 24.93, 60.18, 24.96}},
      {0, "monaco", "Monaco", "MC", {43.72, 7.40, 43.76, 7.44}},
  };
}

std::string RedactDatabaseUrl(const std::string& url) {
  std::string out = url;
  // scheme://user:password@host
  if (size_t scheme = out.find("://"); scheme != std::string::npos) {
    size_t at = out.find('@', scheme + 3);
    size_t slash = out.find('/', scheme + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      size_t colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... in the query string or a key=value conninfo
  for (size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    size_t begin = pos + 9;
    size_t end = out.find_first_of("& ", begin);
    if (end == std::string::npos) end = out.size();
    out.replace(begin, end - begin, "***");
    pos = begin + 3;
  }
  return out;
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock* clock) {
  std::unique_ptr<Store> store;
  if (url.empty()) {
    store = std::make_unique<SqliteStore>("nearbyindex.db", clock);
  } else if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite://path
    if (path.empty())
      return Status::Invalid("DATABASE_URL sqlite: needs a file path (sqlite:PATH)");
    store = std::make_unique<SqliteStore>(path, clock);
  } else if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    store = std::make_unique<PgStore>(url, clock);
  } else {
    return Status::Invalid(fmt::format(
        "DATABASE_URL '{}' is not understood: use sqlite:PATH or postgresql://...",
        RedactDatabaseUrl(url)));
  }
  NBI_RETURN_IF_ERROR(store->Migrate());
  return store;
}

}  // namespace nbi
