// Text from data (POI and city names, file contents, error messages that quote them) made safe
// for a terminal or a log line: control characters never reach them raw, or a name could
// retitle the terminal, clear the screen or forge log lines.
#pragma once

#include <string>
#include <string_view>

namespace nbi {

// `s` with every C0 control character (except tab, and newline when `multiline`), DEL and C1
// control character (U+0080..U+009F, or a raw byte 0x80..0x9F outside valid UTF-8) written as
// a visible escape: "\e" for ESC, "\xNN" for a byte, "\u{NN}" for a C1 code point. Other
// valid UTF-8 (letters of any script) and bytes of invalid UTF-8 that are not C1 are kept.
std::string Printable(std::string_view s, bool multiline = false);

// A JSON text as nlohmann::json's dump writes it with the replace error handler (valid UTF-8,
// C0 control characters already escaped) with DEL and the C1 control characters also written
// as \u escapes ("\u007f", "\u009b"), which dump leaves raw: still the same JSON, and safe
// for a terminal or a log line. Outside strings a JSON text has neither, so every one found is
// inside a string.
std::string EscapeJsonControls(std::string_view json);

}  // namespace nbi
