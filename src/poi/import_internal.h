// Helpers shared by the POI importers (import*.cc). Not part of the public API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "poi/import.h"
#include "poi/poi.h"

namespace nbi::import_internal {

// OK when `path` names an existing regular file; kNotFound when nothing exists there,
// kInvalidArgument for a directory or anything else. Messages start with the path.
Status CheckInputFile(const std::string& path);

// The whole content of `path` (after CheckInputFile); errors name the file.
Result<std::string> ReadInputFile(const std::string& path);

// True when `path` ends with `suffix`, ignoring ASCII case.
bool EndsWithNoCase(std::string_view path, std::string_view suffix);

// Parses a category as written by a user in CSV/GeoJSON:
//   "groceries"            one of our category ids (CategoryId)
//   "healthcare:pharmacy"  an id with a healthcare sub-type (pharmacy, medical, dental)
//   "shop=supermarket"     an OSM tag that SPEC §4 maps to a category (MatchTag)
// kInvalidArgument (message without file context) for anything else.
Result<CategoryMatch> ParseCategorySpec(std::string_view text);

// The last step of every importer, the one place where POIs get their stored form (see
// poi/poi.h): cleans each name (CleanPoiName), gives each POI without a source_id the
// content key ContentSourceId(content_prefix, poi), and merges POIs with the same source_id
// into one (at the place of the first, with the content of the last, as a store upsert
// would), counting the merged ones in stats->duplicates (stats may be null).
std::vector<Poi> FinishPois(std::vector<Poi> pois, std::string_view content_prefix,
                            ImportStats* stats);

}  // namespace nbi::import_internal
