// CSV importer: one POI per record `lat,lng,category[,name]`.
//
// Format (RFC 4180 with a little leniency):
//   - An optional header: when the first record's first field is not a number it must read
//     lat,lng,category or lat,lng,category,name (any case; "lon" for "lng" is accepted) and
//     fixes the column count. Without a header, each record has 3 or 4 fields.
//   - Fields are separated by commas; a field in double quotes may hold commas, line breaks
//     and doubled quotes (""). Spaces around fields are ignored. CRLF line ends and a
//     UTF-8 byte order mark are accepted; blank lines are skipped.
//   - category: a category id ("groceries"), "healthcare:pharmacy|medical|dental", or an OSM
//     tag that SPEC §4 maps ("shop=supermarket", "amenity=dentist").
// Errors read "<file>:<line>: ..." with the line on which the record starts. A POI's
// source_id is its content key "csv:<hash of lat, lng, category and name>" (poi/poi.h), so
// identical records are one POI and neither the file's name nor the line matters.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "geo/geo.h"
#include "poi/import.h"
#include "poi/import_internal.h"

namespace nbi {

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits CSV text into records of fields, remembering the line each record starts on. Reads
// a file in blocks (bounded memory whatever its size) or text already in memory. A record
// longer than kMaxRecordBytes, or a NUL byte, is an error at once: a binary or sparse file is
// refused at its first bad record, not read whole first.
class CsvReader {
 public:
  static constexpr size_t kBlockBytes = size_t{1} << 20;
  // Far above any real record (a name is cut to 256 bytes when stored), small enough to stay
  // a bounded cost; and a few NUL bytes are a name to clean, many a binary file.
  static constexpr size_t kMaxRecordBytes = size_t{16} << 20;
  static constexpr size_t kMaxRecordNuls = 64;

  explicit CsvReader(std::FILE* in) : in_(in) {
    Fill();
    SkipBom();
  }
  explicit CsvReader(std::string_view text) : buf_(text) { SkipBom(); }

  // Reads the next non-blank record into *fields; false at the end of the text. On a
  // malformed record returns true with *error set.
  bool Next(std::vector<std::string>* fields, int* line, Status* error) {
    while (More()) {
      *line = line_;
      fields->clear();
      record_bytes_ = record_nuls_ = 0;
      *error = ReadRecord(fields);
      if (!error->ok()) return true;
      const bool blank = fields->size() == 1 && fields->front().empty() && !last_quoted_;
      if (!blank) return true;
    }
    return false;
  }
  // After Next returned false: whether the file could be read to its end.
  bool read_error() const { return in_ && std::ferror(in_); }

 private:
  void SkipBom() {
    if (buf_.compare(0, 3, "\xEF\xBB\xBF") == 0) pos_ = 3;  // UTF-8 BOM
  }
  // Refills the buffer from the file when it is used up; false at the end of the input.
  bool More() { return pos_ < buf_.size() || Fill(); }
  bool Fill() {
    if (!in_) return false;
    buf_.resize(kBlockBytes);
    buf_.resize(std::fread(buf_.data(), 1, kBlockBytes, in_));
    pos_ = 0;
    return !buf_.empty();
  }
  // Takes the next byte (More() was true), counting it against the record's limit.
  Status Take(char* c) {
    *c = buf_[pos_++];
    if (*c == '\0' && ++record_nuls_ > kMaxRecordNuls) {
      return Status::Invalid("NUL bytes: a binary file, not CSV text");
    }
    if (++record_bytes_ > kMaxRecordBytes) {
      return Status::Invalid(fmt::format(
          "record longer than {} bytes: a binary file, or not CSV text", kMaxRecordBytes));
    }
    return Status::Ok();
  }

  // Reads one record up to and including its line end.
  Status ReadRecord(std::vector<std::string>* fields) {
    while (true) {
      std::string field;
      last_quoted_ = false;
      while (More() && IsBlank(buf_[pos_])) ++pos_;
      if (More() && buf_[pos_] == '"') {
        NBI_RETURN_IF_ERROR(ReadQuoted(&field));
        last_quoted_ = true;
        while (More() && IsBlank(buf_[pos_])) ++pos_;
        if (More() && buf_[pos_] != ',' && !AtLineEnd()) {
          return Status::Invalid("unexpected text after a closing quote");
        }
      } else {
        while (More() && buf_[pos_] != ',' && !AtLineEnd()) {
          char c;
          NBI_RETURN_IF_ERROR(Take(&c));
          field.push_back(c);
        }
        field = std::string(Trim(field));
      }
      fields->push_back(std::move(field));
      if (More() && buf_[pos_] == ',') {
        ++pos_;
        continue;
      }
      SkipLineEnd();
      return Status::Ok();
    }
  }

  // Reads a quoted field starting at the opening quote.
  Status ReadQuoted(std::string* field) {
    ++pos_;
    while (More()) {
      char c;
      NBI_RETURN_IF_ERROR(Take(&c));
      if (c == '"') {
        if (More() && buf_[pos_] == '"') {
          field->push_back('"');
          ++pos_;
          continue;
        }
        return Status::Ok();
      }
      if (c == '\n') ++line_;
      field->push_back(c);
    }
    return Status::Invalid("unterminated quoted field");
  }

  // Whether the byte at pos_ ends a line (More() was true).
  bool AtLineEnd() const { return buf_[pos_] == '\n' || buf_[pos_] == '\r'; }

  void SkipLineEnd() {
    if (More() && buf_[pos_] == '\r') ++pos_;
    if (More() && buf_[pos_] == '\n') ++pos_;
    ++line_;
  }

  std::FILE* in_ = nullptr;  // null: the text is all in buf_
  std::string buf_;
  size_t pos_ = 0;
  size_t record_bytes_ = 0, record_nuls_ = 0;
  int line_ = 1;
  bool last_quoted_ = false;  // whether the last field read was quoted
};

std::optional<double> ParseDouble(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Checks a header record; returns its column count.
Result<size_t> CheckHeader(const std::vector<std::string>& fields) {
  static constexpr std::string_view kExpected[] = {"lat", "lng", "category", "name"};
  bool ok = fields.size() == 3 || fields.size() == 4;
  for (size_t i = 0; ok && i < fields.size(); ++i) {
    const std::string name = Lower(fields[i]);
    ok = name == kExpected[i] || (i == 1 && name == "lon");
  }
  if (!ok) return Status::Invalid("expected the header lat,lng,category[,name]");
  return fields.size();
}

// What the records read so far fixed: whether a header came and its column count.
struct CsvLayout {
  std::optional<size_t> columns;  // fixed by a header
  bool first = true;
};

// Reads the next POI record into *poi (its source_id left empty: FinishPois gives it); false
// at the end of the text. Skips the header. Errors name the file and the line.
Result<bool> NextCsvPoi(CsvReader& reader, const std::string& path, CsvLayout* layout, Poi* poi) {
  std::vector<std::string> fields;
  int line = 0;
  Status error;
  while (reader.Next(&fields, &line, &error)) {
    auto fail = [&](const std::string& message) {
      return Status::Invalid(fmt::format("{}:{}: {}", path, line, message));
    };
    if (!error.ok()) return fail(error.message());
    const std::optional<size_t>& columns = layout->columns;
    if (layout->first) {
      layout->first = false;
      if (!ParseDouble(fields[0])) {
        Result<size_t> n = CheckHeader(fields);
        if (!n.ok()) return fail(n.status().message());
        layout->columns = *n;
        continue;
      }
    }
    if (columns ? fields.size() != *columns : fields.size() < 3 || fields.size() > 4) {
      return fail(fmt::format("expected {} columns (lat,lng,category{}), got {}",
                              columns ? std::to_string(*columns) : "3 or 4",
                              columns == size_t{3} ? "" : "[,name]", fields.size()));
    }
    std::optional<double> lat = ParseDouble(fields[0]);
    if (!lat) return fail(fmt::format("latitude '{}' is not a number", fields[0]));
    std::optional<double> lng = ParseDouble(fields[1]);
    if (!lng) return fail(fmt::format("longitude '{}' is not a number", fields[1]));
    Result<LatLng> pos = LatLng::Make(*lat, *lng, fmt::format("{}:{}", path, line));
    if (!pos.ok()) return pos.status();
    Result<CategoryMatch> match = import_internal::ParseCategorySpec(fields[2]);
    if (!match.ok()) return fail(match.status().message());
    *poi = {"",       match->category, match->sub, fields.size() > 3 ? std::move(fields[3]) : "",
            pos->lat, pos->lng};
    return true;
  }
  if (reader.read_error()) return Status::Invalid(fmt::format("{}: read error", path));
  return false;
}

Result<std::vector<Poi>> ReadCsvPois(CsvReader& reader, const std::string& path,
                                     ImportStats* stats) {
  CsvLayout layout;
  std::vector<Poi> pois;
  Poi poi;
  while (true) {
    NBI_ASSIGN_OR_RETURN(bool more, NextCsvPoi(reader, path, &layout, &poi));
    if (!more) break;
    pois.push_back(std::move(poi));
  }
  if (stats) {
    *stats = ImportStats{};
    stats->nodes = static_cast<uint64_t>(pois.size());
  }
  return import_internal::FinishPois(std::move(pois), "csv:", stats);
}

}  // namespace

// ------------------------------------------------------------------ CsvPoiStream

struct CsvPoiStream::Impl {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{nullptr, &std::fclose};
  std::unique_ptr<CsvReader> reader;
  std::string path;
  CsvLayout layout;
  uint64_t records = 0;
  // Per category, the content key (poi/poi.h: "csv:" and 16 hex digits) of every POI handed
  // out: 8 bytes a POI, the one cost that grows with the file, to tell the duplicates across
  // batches (a duplicate has its original's content, so its category).
  std::array<std::vector<uint64_t>, kCategoryCount> keys;
};

CsvPoiStream::CsvPoiStream() : impl_(std::make_unique<Impl>()) {}
CsvPoiStream::~CsvPoiStream() = default;

Result<std::unique_ptr<CsvPoiStream>> CsvPoiStream::Open(const std::string& path) {
  NBI_RETURN_IF_ERROR(import_internal::CheckInputFile(path));
  std::unique_ptr<CsvPoiStream> s(new CsvPoiStream());
  s->impl_->file.reset(std::fopen(path.c_str(), "rb"));
  if (!s->impl_->file) {
    return Status::Invalid(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  s->impl_->reader = std::make_unique<CsvReader>(s->impl_->file.get());
  s->impl_->path = path;
  return s;
}

Result<bool> CsvPoiStream::Next(size_t max, std::vector<Poi>* batch) {
  Impl& m = *impl_;
  std::vector<Poi> raw;
  raw.reserve(std::min<size_t>(max, 1 << 16));
  Poi poi;
  while (raw.size() < max) {
    NBI_ASSIGN_OR_RETURN(bool more, NextCsvPoi(*m.reader, m.path, &m.layout, &poi));
    if (!more) break;
    raw.push_back(std::move(poi));
  }
  m.records += raw.size();
  if (raw.empty()) return false;
  *batch = import_internal::FinishPois(std::move(raw), "csv:", nullptr);
  for (const Poi& p : *batch) {
    uint64_t key = 0;
    const std::string_view hex = std::string_view(p.source_id).substr(4);
    std::from_chars(hex.data(), hex.data() + hex.size(), key, 16);
    m.keys[static_cast<size_t>(p.category)].push_back(key);
  }
  return true;
}

ImportStats CsvPoiStream::Count(std::array<int64_t, kCategoryCount>* per_category) {
  uint64_t distinct = 0;
  for (size_t c = 0; c < impl_->keys.size(); ++c) {
    std::vector<uint64_t>& keys = impl_->keys[c];
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    distinct += keys.size();
    if (per_category) (*per_category)[c] = static_cast<int64_t>(keys.size());
  }
  ImportStats stats;
  stats.nodes = impl_->records;
  stats.duplicates = impl_->records - distinct;
  return stats;
}

uint64_t CsvPoiStream::bytes_read() const {
  const long at = std::ftell(impl_->file.get());
  return at < 0 ? 0 : static_cast<uint64_t>(at);
}

Result<std::vector<Poi>> ImportCsv(const std::string& path, ImportStats* stats) {
  NBI_RETURN_IF_ERROR(import_internal::CheckInputFile(path));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) {
    return Status::Invalid(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  CsvReader reader(in.get());
  return ReadCsvPois(reader, path, stats);
}

Result<std::vector<Poi>> ParseCsvPois(std::string_view text, const std::string& path,
                                      ImportStats* stats) {
  CsvReader reader(text);
  return ReadCsvPois(reader, path, stats);
}

}  // namespace nbi
