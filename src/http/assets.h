// Files compiled into the program (CMakeLists.txt runs cmake/embed_files.cmake at build
// time): the pages of web/public/ as "public/NAME", Leaflet (Debian's libjs-leaflet or the
// npm lock's) as "leaflet/leaflet.js", "leaflet/leaflet.css", "leaflet/images/NAME.png", and
// the API description as "openapi.json". `serve` answers its pages from here unless
// --web-dir names a directory to read them from instead (development).
//
// Thread-safe: the data is constant and lives as long as the program.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace nbi::http {

struct EmbeddedFile {
  std::string_view name;  // "public/index.html"
  std::string_view data;
};

// Every embedded file (generated source).
std::span<const EmbeddedFile> EmbeddedFiles();

// The file named `name`, or nullopt.
std::optional<std::string_view> FindEmbedded(std::string_view name);

}  // namespace nbi::http
