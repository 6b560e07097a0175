// A small LRU of rendered tiles, bounded in bytes. Thread-safe (one mutex; every operation
// is O(1) apart from the evictions it causes).
//
// An entry is a tile's ETag and its PNG (empty for a tile answered 204). A hit needs the
// current ETag: the caller computes it from the area's version counters first, so a tile
// whose cells were rewritten is never served from the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace nbi::tiles {

class TileCache {
 public:
  explicit TileCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The PNG stored under `key` when its ETag is `etag` (moved to the front); nullopt otherwise.
  std::optional<std::string> Get(const std::string& key, const std::string& etag);
  // Stores (or replaces) an entry; evicts the least recently used until the total fits.
  // An entry larger than the whole budget is not stored.
  void Put(const std::string& key, std::string etag, std::string png);

  size_t bytes() const;
  size_t entries() const;

 private:
  struct Entry {
    std::string key, etag, png;
    size_t bytes() const { return key.size() * 2 + etag.size() + png.size() + 64; }
  };
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // guarded by mu_; front = most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;  // guarded by mu_
  size_t bytes_ = 0;                                                   // guarded by mu_
};

}  // namespace nbi::tiles
