// A POST /api/heatmap/schedule body through the API's parsing (src/http/api.h):
// JsonNestingDepth, ParseJsonObject, then ParseScheduleRequest. Properties: no exception
// escapes; an accepted request names exactly one of city and bounds, has a valid grid step
// and bounds. (Its model name, priority range and force-with-reset are JobService::Resolve's.)
#include <cmath>
#include <string>

#include "fuzz_check.h"
#include "geo/geo.h"
#include "http/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = nbi::fuzz::AsText(data, size);
  (void)nbi::http::JsonNestingDepth(body);
  nlohmann::json json;
  if (auto error = nbi::http::ParseJsonObject(body, &json)) {
    NBI_FUZZ_CHECK(error->http_status == 400);
    return 0;
  }
  NBI_FUZZ_CHECK(json.is_object());
  auto request = nbi::http::ParseScheduleRequest(json);
  if (!request.ok()) {
    // What the server answers: a 400 with a message (which must be printable as JSON).
    auto error = nbi::http::ApiErrorFromStatus(request.status());
    NBI_FUZZ_CHECK(error.http_status == 400);
    (void)error.Body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return 0;
  }
  NBI_FUZZ_CHECK(request->city_slug.has_value() != request->bounds.has_value());
  NBI_FUZZ_CHECK(nbi::ValidateGridStep(request->grid_step).ok());
  if (request->bounds) {
    const nbi::BBox& b = *request->bounds;
    NBI_FUZZ_CHECK(nbi::BBox::Make(b.min_lat, b.min_lng, b.max_lat, b.max_lng).ok());
  }
  return 0;
}
