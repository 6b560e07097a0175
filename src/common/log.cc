#include "common/log.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/printable.h"
#include "common/time_format.h"

namespace nbi {

namespace {

int64_t MsOf(const spdlog::details::log_msg& msg) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
}

class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "[" + FormatTimestamp(MsOf(msg), TimeStyle::kLocalClock) + "] ";
    // Log lines quote data (job errors, file names): never raw control characters.
    line += Printable(std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json j = {{"time", FormatTimestamp(MsOf(msg), TimeStyle::kIsoUtc)},
                        {"level", std::string(level.data(), level.size())},
                        {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    // Data in a message (a job's error, a name) never reaches the log raw: DEL and C1 too.
    std::string line =
        EscapeJsonControls(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// Writes formatted lines to a FILE*, flushing each (logs interleave with other output and are
// read live by tests and operators). On a terminal, clears the line first.
class FileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  FileSink(std::FILE* out, bool clear_line) : out_(out), clear_line_(clear_line) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    if (clear_line_) std::fputs("\r\033[K", out_);
    std::fwrite(buf.data(), 1, buf.size(), out_);
    std::fflush(out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  std::FILE* const out_;
  const bool clear_line_;
};

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, std::FILE* out) {
  bool tty = format == LogFormat::kText && isatty(fileno(out));
  auto sink = std::make_shared<FileSink>(out, tty);
  if (format == LogFormat::kJson) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_formatter(std::make_unique<TextFormatter>());
  }
  auto logger = std::make_shared<spdlog::logger>("nearbyindex", std::move(sink));
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::shared_ptr<spdlog::logger> NullLogger() {
  static auto logger =
      std::make_shared<spdlog::logger>("null", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

}  // namespace nbi
