#include "http/pages.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "http/assets.h"

namespace nbi::http {

namespace {

constexpr size_t kMaxStaticFileBytes = 32 << 20;

// The file at `rel` below `root`, if it is a regular file inside the root once every symbolic
// link is resolved (a link may point elsewhere inside the web directory, never out of it).
Result<std::string> ReadSmallFile(const std::filesystem::path& root, const std::string& rel) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return Status::NotFound(fmt::format("no web root {}", root.string()));
  const fs::path real = fs::canonical(root / rel, ec);
  if (ec) return Status::NotFound(fmt::format("no such file under {}", root.string()));
  auto [r, f] = std::mismatch(real_root.begin(), real_root.end(), real.begin(), real.end());
  if (r != real_root.end()) return Status::NotFound("outside the web root");
  if (!fs::is_regular_file(real, ec)) return Status::NotFound("not a file");
  auto size = fs::file_size(real, ec);
  if (ec || size > kMaxStaticFileBytes) return Status::Internal("file too large or unreadable");
  std::ifstream in(real, std::ios::binary);
  std::string data(size, '\0');
  if (!in.read(data.data(), static_cast<std::streamsize>(size))) {
    return Status::Internal("read failed");
  }
  return data;
}

}  // namespace

PageSource::PageSource(std::string web_dir) : web_dir_(std::move(web_dir)) {}

Result<std::string> PageSource::Read(Root root, const std::string& rel) const {
  namespace fs = std::filesystem;
  if (!web_dir_.empty()) {
    if (root == Root::kPages) return ReadSmallFile(fs::path(web_dir_) / "public", rel);
    const fs::path dist = fs::path(web_dir_) / "node_modules" / "leaflet" / "dist";
    std::error_code ec;
    if (fs::is_directory(dist, ec)) return ReadSmallFile(dist, rel);
  }
  const std::string name = (root == Root::kPages ? "public/" : "leaflet/") + rel;
  if (auto data = FindEmbedded(name)) return std::string(*data);
  return Status::NotFound(fmt::format("{} is not embedded", name));
}

std::string PageSource::Describe() const {
  return web_dir_.empty() ? std::string("embedded") : web_dir_;
}

}  // namespace nbi::http
