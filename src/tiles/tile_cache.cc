#include "tiles/tile_cache.h"

namespace nbi::tiles {

std::optional<std::string> TileCache::Get(const std::string& key, const std::string& etag) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = index_.find(key);
  if (it == index_.end() || it->second->etag != etag) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->png;
}

void TileCache::Put(const std::string& key, std::string etag, std::string png) {
  Entry e{key, std::move(etag), std::move(png)};
  const size_t size = e.bytes();
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes();
    lru_.erase(it->second);
    index_.erase(it);
  }
  if (size > max_bytes_) return;
  while (bytes_ + size > max_bytes_ && !lru_.empty()) {
    bytes_ -= lru_.back().bytes();
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(std::move(e));
  index_[key] = lru_.begin();
  bytes_ += size;
}

size_t TileCache::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}

size_t TileCache::entries() const {
  std::lock_guard<std::mutex> l(mu_);
  return lru_.size();
}

}  // namespace nbi::tiles
