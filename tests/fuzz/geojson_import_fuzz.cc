// The GeoJSON / Overpass JSON importer (src/poi/import.h, ParseGeoJsonPois: ImportGeoJson
// after reading the file). Properties: no exception escapes; every POI has finite, in-range
// coordinates and an id; node and way counts add up to the POIs; an error names the file.
#include <cmath>
#include <string>

#include "fuzz_check.h"
#include "poi/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nbi::ImportStats stats;
  auto pois = nbi::ParseGeoJsonPois(nbi::fuzz::AsText(data, size), "fuzz.geojson", &stats);
  if (!pois.ok()) {
    NBI_FUZZ_CHECK(pois.status().message().rfind("fuzz.geojson", 0) == 0);
    return 0;
  }
  NBI_FUZZ_CHECK(stats.nodes + stats.ways - stats.duplicates == pois->size());
  for (const nbi::Poi& p : *pois) {
    NBI_FUZZ_CHECK(std::isfinite(p.lat) && std::fabs(p.lat) <= 90);
    NBI_FUZZ_CHECK(std::isfinite(p.lng) && std::fabs(p.lng) <= 180);
    NBI_FUZZ_CHECK(!p.source_id.empty());
  }
  return 0;
}
