// The Overture places taxonomy -> the engine's categories (SPEC §2a): what the original app
// stored in its overture_pois table, and what Overture places files carry in
// categories.primary / categories.alternate. One table serves the importer and the stores'
// reads of overture_pois, so a place scores the same whichever way it came in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poi/poi.h"

namespace nbi {

// The category of an Overture primary category ("supermarket" -> groceries; "pharmacy" ->
// healthcare:pharmacy, "dentist" -> healthcare:dental, hospital, medical_clinic, urgent_care
// and doctor -> healthcare:medical). nullopt for a category outside the mapping.
std::optional<CategoryMatch> MatchOvertureCategory(std::string_view overture_category);

// Every Overture category of the mapping (for a store's IN list).
const std::vector<std::string>& OvertureCategoryIds();

// The same list as a PostgreSQL text[] literal: {"supermarket","grocery_store",...}.
std::string OvertureCategoryArrayLiteral();

}  // namespace nbi
