// The CSV importer (src/poi/import.h, ParseCsvPois: ImportCsv after reading the file).
// Properties: every POI it returns has finite, in-range coordinates and a csv: content id;
// an error names the file.
#include <cmath>
#include <string>

#include "fuzz_check.h"
#include "poi/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nbi::ImportStats stats;
  auto pois = nbi::ParseCsvPois(nbi::fuzz::AsText(data, size), "fuzz.csv", &stats);
  if (!pois.ok()) {
    NBI_FUZZ_CHECK(pois.status().message().rfind("fuzz.csv", 0) == 0);
    return 0;
  }
  // Duplicate rows merge into one POI (same content key).
  NBI_FUZZ_CHECK(stats.nodes - stats.duplicates == pois->size() && stats.ways == 0);
  for (const nbi::Poi& p : *pois) {
    NBI_FUZZ_CHECK(std::isfinite(p.lat) && std::fabs(p.lat) <= 90);
    NBI_FUZZ_CHECK(std::isfinite(p.lng) && std::fabs(p.lng) <= 180);
    NBI_FUZZ_CHECK(p.source_id.rfind("csv:", 0) == 0);
  }
  return 0;
}
