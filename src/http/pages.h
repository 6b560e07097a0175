// Where `serve` finds its pages and Leaflet.
//
// By default both are the copies compiled into the program (http/assets.h): `serve` works
// from any directory and after `cmake --install`. With a web directory (--web-dir /
// NBI_WEB_DIR, for development) the pages are read from DIR/public/ at each request, and
// Leaflet from DIR/node_modules/leaflet/dist/ when that directory exists (the embedded copy
// otherwise).
//
// Thread-safe: constant after construction.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace nbi::http {

class PageSource {
 public:
  enum class Root { kPages, kLeaflet };

  // `web_dir` empty: the embedded files only.
  explicit PageSource(std::string web_dir);

  // The bytes of `rel` (a path checked by IsSafeRelativePath) below `root`. kNotFound when
  // there is no such file; a file on disk must stay inside its directory once every symbolic
  // link is resolved. The status message may name a path: for the log only.
  Result<std::string> Read(Root root, const std::string& rel) const;

  // For the banner: "embedded" or the directory.
  std::string Describe() const;

 private:
  const std::string web_dir_;
};

}  // namespace nbi::http
