#include "http/assets.h"

namespace nbi::http {

std::optional<std::string_view> FindEmbedded(std::string_view name) {
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    if (f.name == name) return f.data;
  }
  return std::nullopt;
}

}  // namespace nbi::http
