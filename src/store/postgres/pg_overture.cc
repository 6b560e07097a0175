// PostgreSQL store: the original app's POIs (SPEC §2a). Where its overture_pois table exists,
// jobs and point scores read it beside pois, through the Overture mapping (poi/overture.h).
// Read-only: the engine never writes it. Its coordinates are real (float4) and read as their
// shortest text, as the original app read them.
#include <string>
#include <vector>

#include "poi/overture.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"

namespace nbi {

namespace {

PgParams BoxParams(const BBox& box) {
  PgParams p;
  p.Double(box.min_lat)
      .Double(box.max_lat)
      .Double(box.min_lng)
      .Double(box.max_lng)
      .Text(OvertureCategoryArrayLiteral());
  return p;
}

}  // namespace

Result<bool> PgStore::HasOverturePois(PgConn& c) {
  const int known = overture_pois_.load();
  if (known >= 0) return known == 1;
  NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kHasOverturePois));
  const bool has = r.boolean(0, 0);
  overture_pois_.store(has ? 1 : 0);
  return has;
}

Status PgLoadOverturePoints(PgConn& c, const BBox& box, std::vector<PoiPoint>* out) {
  NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadOverturePoints, BoxParams(box)));
  out->reserve(out->size() + r.size());
  for (int i = 0; i < r.size(); ++i) {
    auto m = MatchOvertureCategory(r.text(i, 0));
    if (!m) continue;  // the IN list holds only mapped categories
    out->push_back({r.f64(i, 1), r.f64(i, 2), m->category, m->sub});
  }
  return Status::Ok();
}

Status PgLoadOverturePois(PgConn& c, const BBox& box, int64_t limit, std::vector<Poi>* out) {
  PgParams p = BoxParams(box);
  p.OptInt(limit >= 0 ? std::optional<int64_t>(limit) : std::nullopt);
  NBI_ASSIGN_OR_RETURN(PgRows r, c.Exec(kLoadOverturePois, p));
  for (int i = 0; i < r.size(); ++i) {
    auto m = MatchOvertureCategory(r.text(i, 1));
    if (!m) continue;
    Poi poi;
    poi.source_id = "overture:" + r.str(i, 0);
    poi.category = m->category;
    poi.sub = m->sub;
    poi.name = r.null(i, 2) ? std::string() : CleanPoiName(r.text(i, 2));
    poi.lat = r.f64(i, 3);
    poi.lng = r.f64(i, 4);
    out->push_back(std::move(poi));
  }
  return Status::Ok();
}

}  // namespace nbi
