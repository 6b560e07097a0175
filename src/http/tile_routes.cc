#include "http/tile_routes.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "tiles/streets.h"

namespace nbi::http {

namespace {

// Bumped when the rendering changes, so browsers drop tiles of an older renderer (2: the
// computed area's outline).
constexpr int kRendererVersion = 2;
constexpr int kStreetRendererVersion = 1;

void Send(Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.log_detail = e.log_detail;
  for (const auto& [name, value] : e.headers) res.set_header(name, value);
  res.set_content(e.Body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

std::string Cut(const std::string& s) {
  std::string out = s.substr(0, 40);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

void AppendDouble(std::string* out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// The base-index range of the grid points in `box` (half-open, as a job's region).
tiles::IndexRange BoxBaseRange(const BBox& box, double step) {
  int64_t i0, i1, j0, j1;
  GridIndexRange(box.min_lat, box.max_lat, step, &i0, &i1);
  GridIndexRange(box.min_lng, box.max_lng, step, &j0, &j1);
  return {i0, i1 - 1, j0, j1 - 1};
}

// A /api/heatmap answer around `list`, its cells' JSON objects.
std::string HeatmapBody(double step, int level, HeatModel model, int64_t count,
                        const std::string& list) {
  std::string body = "{\"gridStep\":";
  AppendDouble(&body, step);
  body += ",\"level\":" + std::to_string(level) + ",\"cellStep\":";
  AppendDouble(&body, step * std::ldexp(1.0, level));
  body += ",\"model\":\"" + std::string(HeatModelId(model)) +
          "\",\"count\":" + std::to_string(count) + ",\"cells\":[" + list + "]}";
  return body;
}

}  // namespace

Result<TileRequest> ParseTileRequest(const std::string& model, const std::string& step,
                                     const std::string& z, const std::string& x,
                                     const std::string& y_png) {
  TileRequest t;
  NBI_ASSIGN_OR_RETURN(t.model, ParseModelName("model", model));
  NBI_ASSIGN_OR_RETURN(const double any_step, ParseFiniteDouble("gridStep", step));
  NBI_ASSIGN_OR_RETURN(t.step, CanonicalGridStep(any_step));
  NBI_ASSIGN_OR_RETURN(t.tile, ParseTileId(z, x, y_png));
  return t;
}

Result<tiles::TileId> ParseTileId(const std::string& z, const std::string& x,
                                  const std::string& y_png) {
  if (y_png.size() < 5 || y_png.compare(y_png.size() - 4, 4, ".png") != 0) {
    return Status::Invalid(fmt::format("tile name '{}' must be {{y}}.png", Cut(y_png)));
  }
  tiles::TileId t;
  NBI_ASSIGN_OR_RETURN(int64_t zz, ParseInt("z", z, 0, tiles::kMaxZoom));
  t.z = static_cast<int>(zz);
  const int64_t n = int64_t{1} << t.z;
  NBI_ASSIGN_OR_RETURN(t.x, ParseInt("x", x, 0, n - 1));
  NBI_ASSIGN_OR_RETURN(t.y, ParseInt("y", y_png.substr(0, y_png.size() - 4), 0, n - 1));
  return t;
}

Result<int> ChooseHeatmapLevel(const std::string& level, const BBox& box, double step,
                               int64_t cap) {
  const int max_level = tiles::MaxOverviewLevel(step);
  auto cells_at = [&](int l) {
    const tiles::IndexRange r = BoxBaseRange(box, step).CoarserBy(l);
    return static_cast<double>(r.rows()) * static_cast<double>(r.cols());
  };
  if (level == "auto") {
    for (int l = 0; l <= max_level; ++l) {
      if (cells_at(l) <= static_cast<double>(cap)) return l;
    }
    return max_level;  // the top level of a huge box: a few thousand values at most
  }
  NBI_ASSIGN_OR_RETURN(int64_t l, ParseInt("level", level, 0, max_level));
  if (cells_at(static_cast<int>(l)) > static_cast<double>(cap)) {
    return Status::Invalid(fmt::format("{} at gridStep {} level {} spans {:.0f} cells, over the "
                                       "cap of {}: use level=auto or a coarser level",
                                       box.ToString(), step, l, cells_at(static_cast<int>(l)), cap))
        .WithReason("too_many_cells");
  }
  return static_cast<int>(l);
}

TileRoutes::TileRoutes(Store* store, size_t cache_bytes, std::vector<double> steps,
                       int64_t cell_cap)
    : store_(store),
      steps_(std::move(steps)),
      cell_cap_(cell_cap),
      cache_(cache_bytes),
      answers_(cache_bytes / 4) {}

namespace {
// The request's `model` parameter (default grocery).
Result<HeatModel> ModelParam(const Request& req) {
  if (!req.has_param("model")) return HeatModel::kGrocery;
  return ParseModelName("model", req.get_param_value("model"));
}

// A tile's answer: its PNG, or 204 when it draws nothing.
void SendTilePng(Response& res, std::string png) {
  if (png.empty()) {
    res.status = 204;
    return;
  }
  res.status = 200;
  res.set_content(std::move(png), "image/png");
}
}  // namespace

void TileRoutes::Tile(const Request& req, Response& res, const std::string& rest) {
  std::vector<std::string> parts;
  for (size_t pos = 0;;) {
    const size_t slash = rest.find('/', pos);
    parts.push_back(rest.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos || parts.size() > 5) break;
    pos = slash + 1;
  }
  if (parts.size() == 4 && parts[0] == "streets") {
    auto t = ParseTileId(parts[1], parts[2], parts[3]);
    if (!t.ok()) return Send(res, ApiErrorFromStatus(t.status()));
    return StreetTile(req, res, *t);
  }
  if (parts.size() != 5) {
    return Send(res, ApiError::Of("invalid_argument",
                                  "a tile is /tiles/{model}/{gridStep}/{z}/{x}/{y}.png or "
                                  "/tiles/streets/{z}/{x}/{y}.png"));
  }
  auto t = ParseTileRequest(parts[0], parts[1], parts[2], parts[3], parts[4]);
  if (!t.ok()) return Send(res, ApiErrorFromStatus(t.status()));
  tiles::TileStyle style;
  if (req.has_param("low")) {
    const std::string low = req.get_param_value("low");
    if (low != "0" && low != "1") {
      return Send(
          res, ApiError::Of("invalid_argument", fmt::format("low '{}' must be 0 or 1", Cut(low))));
    }
    style.low = low == "1";
  }
  const int level = tiles::LevelForZoom(t->step, t->tile.z);
  const tiles::IndexRange range = tiles::TileReadRange(t->tile, t->step, level);
  auto version = store_->AreaVersion(t->step, t->model, tiles::VersionBlocks(range, level));
  if (!version.ok()) return Send(res, ApiErrorFromStatus(version.status()));
  const std::string etag =
      fmt::format("\"t{}{}-{}-{}\"", kRendererVersion, style.low ? "l" : "", level, *version);
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", "public, no-cache");
  if (req.get_header_value("If-None-Match") == etag) {
    res.status = 304;
    return;
  }
  const std::string key =
      fmt::format("{}/{}/{}/{}/{}{}", HeatModelId(t->model), tiles::StepKey(t->step), t->tile.z,
                  t->tile.x, t->tile.y, style.low ? "/low" : "");
  std::optional<std::string> png = cache_.Get(key, etag);
  if (!png) {
    tiles::DenseLevel cells;
    Status s = store_->ReadLevel(t->step, t->model, level, range, &cells);
    if (!s.ok()) return Send(res, ApiErrorFromStatus(s));
    std::vector<uint8_t> bands;
    const int coloured = tiles::RenderTile(t->tile, t->step, level, cells, &bands, style);
    png.emplace();
    if (coloured > 0) {
      auto encoded = tiles::EncodeTilePng(bands);
      if (!encoded.ok()) return Send(res, ApiErrorFromStatus(encoded.status()));
      *png = std::move(encoded).value();
    }
    cache_.Put(key, etag, *png);
  }
  SendTilePng(res, std::move(*png));
}

void TileRoutes::StreetTile(const Request& req, Response& res, const tiles::TileId& t) {
  const int min_class = tiles::StreetMinClass(t.z);
  if (min_class < 0) {  // zoomed out too far: lines would be noise
    res.set_header("Cache-Control", "public, max-age=86400");
    res.status = 204;
    return;
  }
  auto version = store_->WalkNetworkVersion();
  if (!version.ok()) return Send(res, ApiErrorFromStatus(version.status()));
  const std::string etag = fmt::format("\"s{}-{}\"", kStreetRendererVersion, *version);
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", "public, no-cache");
  if (req.get_header_value("If-None-Match") == etag) {
    res.status = 304;
    return;
  }
  const std::string key = fmt::format("streets/{}/{}/{}", t.z, t.x, t.y);
  std::optional<std::string> png = cache_.Get(key, etag);
  if (!png) {
    std::vector<tiles::StreetSegment> segments;
    Status s = store_->LoadStreetSegments(tiles::StreetCellsOfTile(t), min_class, &segments);
    if (!s.ok()) return Send(res, ApiErrorFromStatus(s));
    std::vector<uint8_t> levels;
    png.emplace();
    if (tiles::RenderStreetTile(t, segments, &levels) > 0) {
      auto encoded = tiles::EncodeStreetPng(levels);
      if (!encoded.ok()) return Send(res, ApiErrorFromStatus(encoded.status()));
      *png = std::move(encoded).value();
    }
    cache_.Put(key, etag, *png);
  }
  SendTilePng(res, std::move(*png));
}

void TileRoutes::HeatmapLevel(Response& res, const BBox& box, double step, HeatModel model,
                              int min_score, int level) {
  const tiles::IndexRange range = BoxBaseRange(box, step).CoarserBy(level);
  tiles::DenseLevel cells;
  Status s = store_->ReadLevel(step, model, level, range, &cells);
  if (!s.ok()) return Send(res, ApiErrorFromStatus(s));
  const int64_t f = int64_t{1} << level;
  std::string body, list;
  int64_t count = 0;
  for (int64_t i = range.i0; i <= range.i1; ++i) {
    for (int64_t j = range.j0; j <= range.j1; ++j) {
      const uint8_t v = cells.Get(i, j);
      if (v == tiles::kNoCell || v < min_score) continue;
      list += count++ ? ",{\"lat\":" : "{\"lat\":";
      AppendDouble(&list, (static_cast<double>(i * f) + static_cast<double>(f - 1) / 2) * step);
      list += ",\"lng\":";
      AppendDouble(&list, (static_cast<double>(j * f) + static_cast<double>(f - 1) / 2) * step);
      list += ",\"score\":" + std::to_string(v) + "}";
    }
  }
  body = HeatmapBody(step, level, model, count, list);
  res.status = 200;
  res.set_content(std::move(body), "application/json");
}

void TileRoutes::HeatmapCells(const Request& req, Response& res, const BBox& box, double step,
                              HeatModel model, int min_score) {
  auto too_many = [&](const std::string& what) {
    Send(res, ApiError::Of("too_many_cells",
                           fmt::format("{} at gridStep {} {}, over the cap of {}: zoom in or use a "
                                       "coarser gridStep",
                                       box.ToString(), step, what, cell_cap_)));
  };
  const double cells_in_box = GridCellCount(box, step);
  if (cells_in_box > static_cast<double>(cell_cap_)) {
    return too_many(fmt::format("spans {:.0f} cells", cells_in_box));
  }
  // The version of the blocks under the box (and a cell around it): the answer of an
  // unchanged area comes from the cache, or is a 304 for a client that has it.
  tiles::IndexRange around = BoxBaseRange(box, step);
  around = {around.i0 - 1, around.i1 + 1, around.j0 - 1, around.j1 + 1};
  auto version = store_->AreaVersion(step, model, tiles::VersionBlocks(around, 0));
  if (!version.ok()) return Send(res, ApiErrorFromStatus(version.status()));
  const std::string etag = fmt::format("\"c{}\"", *version);
  res.set_header("ETag", etag);
  if (req.get_header_value("If-None-Match") == etag) {
    res.status = 304;
    return;
  }
  const std::string key =
      fmt::format("{}/{}/{}/{}/{}/{}/{}", HeatModelId(model), tiles::StepKey(step), box.min_lat,
                  box.min_lng, box.max_lat, box.max_lng, min_score);
  if (std::optional<std::string> kept = answers_.Get(key, etag)) {
    res.status = 200;
    res.set_content(std::move(*kept), "application/json");
    return;
  }
  auto cells = store_->QueryCells(box, step, model, min_score, cell_cap_);
  if (!cells.ok()) return Send(res, ApiErrorFromStatus(cells.status()));
  if (static_cast<int64_t>(cells->size()) > cell_cap_) return too_many("holds more stored cells");
  // Written by hand: a large answer through nlohmann::json costs several times more.
  std::string list;
  list.reserve(cells->size() * 48);
  for (size_t i = 0; i < cells->size(); ++i) {
    const HeatCell& c = (*cells)[i];
    // PostgreSQL stores REAL (float4): snap back to the grid point the cell stands for.
    list += i ? ",{\"lat\":" : "{\"lat\":";
    AppendDouble(&list, static_cast<double>(NearestGridIndex(c.lat, step)) * step);
    list += ",\"lng\":";
    AppendDouble(&list, static_cast<double>(NearestGridIndex(c.lng, step)) * step);
    list += ",\"score\":" + std::to_string(c.score) + "}";
  }
  std::string body = HeatmapBody(step, 0, model, static_cast<int64_t>(cells->size()), list);
  answers_.Put(key, etag, body);
  res.status = 200;
  res.set_content(std::move(body), "application/json");
}

void TileRoutes::Extent(const Request& req, Response& res) {
  auto parsed = ModelParam(req);
  if (!parsed.ok()) return Send(res, ApiErrorFromStatus(parsed.status()));
  const HeatModel model = *parsed;
  nlohmann::json extents = nlohmann::json::array();
  for (double step : steps_) {
    // The top level over the world, then a finer level inside what it found.
    tiles::IndexRange r = BoxBaseRange(BBox{-90, -180, 90, 180}, step);
    std::optional<tiles::IndexRange> found;
    int level = tiles::MaxOverviewLevel(step);
    for (int pass = 0; pass < 2; ++pass) {
      tiles::DenseLevel cells;
      const tiles::IndexRange at = r.CoarserBy(level);
      Status s = store_->ReadLevel(step, model, level, at, &cells);
      if (!s.ok()) return Send(res, ApiErrorFromStatus(s));
      found.reset();
      for (int64_t i = at.i0; i <= at.i1; ++i) {
        for (int64_t j = at.j0; j <= at.j1; ++j) {
          if (cells.Get(i, j) == tiles::kNoCell) continue;
          if (!found) found = tiles::IndexRange{i, i, j, j};
          found->i0 = std::min(found->i0, i), found->i1 = std::max(found->i1, i);
          found->j0 = std::min(found->j0, j), found->j1 = std::max(found->j1, j);
        }
      }
      if (!found) break;
      const int64_t f = int64_t{1} << level;
      r = {found->i0 * f, found->i1 * f + f - 1, found->j0 * f, found->j1 * f + f - 1};
      // A level with at most ~512 x 512 cells over that box.
      int next = 1;
      while (
          next<level&& static_cast<double>(r.rows()) * r.cols() / std::ldexp(1.0, 2 * next)> 262144)
        ++next;
      if (pass == 0) level = next;
    }
    if (!found) continue;
    const double s = step;
    extents.push_back({{"gridStep", step},
                       {"bounds",
                        {{"minLat", (static_cast<double>(r.i0) - 0.5) * s},
                         {"minLng", (static_cast<double>(r.j0) - 0.5) * s},
                         {"maxLat", (static_cast<double>(r.i1) + 0.5) * s},
                         {"maxLng", (static_cast<double>(r.j1) + 0.5) * s}}}});
  }
  res.status = 200;
  res.set_content(nlohmann::json{{"extents", extents}}.dump(), "application/json");
}

bool TileRoutes::HasCells(const BBox& box, double step, HeatModel model, Status* error) {
  // The finest level with at most 64 x 64 cells over the box: one read of a few rows. An
  // overview cell wholly inside the box answers; one on its border also covers cells just
  // outside it (a neighbouring area's), so its answer is confirmed from the stored cells
  // under it that lie inside the box.
  const tiles::IndexRange base = BoxBaseRange(box, step);
  if (base.empty()) return false;
  int level = 0;
  const int max_level = tiles::MaxOverviewLevel(step);
  while (level<max_level&& static_cast<double>(base.CoarserBy(level).rows()) *
               static_cast<double>(base.CoarserBy(level).cols())> 4096.0) {
    ++level;
  }
  tiles::DenseLevel cells;
  *error = store_->ReadLevel(step, model, level, base.CoarserBy(level), &cells);
  if (!error->ok()) return false;
  const int64_t f = int64_t{1} << level;
  std::vector<tiles::IndexRange> border;  // the base cells inside the box under border hits
  for (int64_t i = cells.range.i0; i <= cells.range.i1; ++i) {
    for (int64_t j = cells.range.j0; j <= cells.range.j1; ++j) {
      if (cells.Get(i, j) == tiles::kNoCell) continue;
      const tiles::IndexRange under{i * f, i * f + f - 1, j * f, j * f + f - 1};
      const tiles::IndexRange inside{std::max(under.i0, base.i0), std::min(under.i1, base.i1),
                                     std::max(under.j0, base.j0), std::min(under.j1, base.j1)};
      if (inside == under) return true;
      border.push_back(inside);
    }
  }
  for (const tiles::IndexRange& r : border) {
    tiles::DenseLevel stored;
    *error = store_->ReadLevel(step, model, 0, r, &stored);
    if (!error->ok()) return false;
    for (uint8_t v : stored.v) {
      if (v != tiles::kNoCell) return true;
    }
  }
  return false;
}

void TileRoutes::CitiesWithCells(const Request& req, Response& res) {
  auto parsed = ModelParam(req);
  if (!parsed.ok()) return Send(res, ApiErrorFromStatus(parsed.status()));
  const HeatModel model = *parsed;
  if (!req.has_param("gridStep")) {
    return Send(res, ApiError::Of("invalid_argument", "gridStep is required"));
  }
  auto step = ParseFiniteDouble("gridStep", req.get_param_value("gridStep"));
  if (step.ok()) {
    Status valid = ValidateGridStep(*step);
    if (!valid.ok()) step = valid;
  }
  if (!step.ok()) return Send(res, ApiErrorFromStatus(step.status()));
  auto cities = store_->ListCities();
  if (!cities.ok()) return Send(res, ApiErrorFromStatus(cities.status()));
  nlohmann::json list = nlohmann::json::array();
  for (const City& c : *cities) {
    Status error;
    const bool has = HasCells(c.bounds, *step, model, &error);
    if (!error.ok()) return Send(res, ApiErrorFromStatus(error));
    if (has) list.push_back(CityJson(c));
  }
  res.status = 200;
  res.set_content(
      nlohmann::json{
          {"model", HeatModelId(model)}, {"gridStep", *step}, {"cities", std::move(list)}}
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      "application/json");
}

}  // namespace nbi::http
