// SPDX-License-Identifier: Apache-2.0
#include "datasets/parsers/text_parsing.h"

#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace topo::datasets {
namespace {

constexpr std::array<const char*, 119> kElements = {
    "",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};

std::string where(const std::string& file, int64_t line) {
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

}  // namespace

ParseError::ParseError(const std::string& file, int64_t line, const std::string& expected,
                       const std::string& actual)
    : std::runtime_error(where(file, line) + ": expected " + expected + ", got " + actual),
      file_(file),
      line_(line) {}

ParseError::ParseError(const std::string& file, const std::string& message)
    : std::runtime_error(file + ": " + message), file_(file) {}

bool LineReader::next(std::string_view& line) {
  if (position_ >= text_.size()) return false;
  size_t end = text_.find('\n', position_);
  if (end == std::string_view::npos) end = text_.size();
  line = text_.substr(position_, end - position_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  position_ = end + 1;
  ++line_;
  return true;
}

std::string_view LineReader::require(const std::string& what) {
  std::string_view line;
  if (!next(line)) throw ParseError(file_, line_ + 1, what, "end of file");
  return line;
}

bool LineReader::next_nonblank(std::string_view& line) {
  while (next(line)) {
    if (!trim(line).empty()) return true;
  }
  return false;
}

void LineReader::check_declared_count(int64_t count, int64_t min_bytes, const std::string& what,
                                      std::string_view line) const {
  const int64_t most = static_cast<int64_t>(remaining_bytes()) / std::max<int64_t>(min_bytes, 1);
  if (count > most) {
    throw ParseError(file_, line_,
                     "at most " + std::to_string(most) + " " + what + " (the remaining " +
                         std::to_string(remaining_bytes()) + " bytes of the file hold no more)",
                     std::to_string(count) + " declared by " + quote(line) +
                         " (a truncated file or a wrong count)");
  }
}

void LineReader::fail(const std::string& expected, std::string_view actual) const {
  throw ParseError(file_, line_, expected, quote(actual));
}

std::string_view trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

std::vector<std::string_view> split_fields(std::string_view line, bool comma) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  const auto separator = [&](char c) {
    return c == ' ' || c == '\t' || c == '\r' || (comma && c == ',');
  };
  while (i < line.size()) {
    while (i < line.size() && separator(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !separator(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  const size_t limit = 60;
  for (size_t i = 0; i < text.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 32 && c < 127) ? static_cast<char>(c) : '?';
  }
  if (text.size() > limit) out += "...";
  return out + "\"";
}

bool parse_double(std::string_view field, double& value, bool allow_non_finite) {
  if (field.empty() || field.size() > 64) return false;
  char buffer[72];
  size_t n = 0;
  // Mathematica exponents: "1.2*^-6" → "1.2e-6".
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '*' && i + 1 < field.size() && field[i + 1] == '^') {
      buffer[n++] = 'e';
      ++i;
    } else {
      buffer[n++] = field[i];
    }
  }
  buffer[n] = '\0';
  char* end = nullptr;
  errno = 0;
  value = std::strtod(buffer, &end);
  if (end != buffer + n || errno == ERANGE) return false;
  // strtod accepts hex floats and "nan"/"inf"; only plain decimals are numbers here.
  for (size_t i = 0; i < n; ++i) {
    const char c = buffer[i];
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-')) {
      return allow_non_finite && !std::isfinite(value);
    }
  }
  return std::isfinite(value) || allow_non_finite;
}

bool parse_int(std::string_view field, int64_t& value) {
  if (field.empty() || field.size() > 20) return false;
  size_t i = 0;
  bool negative = false;
  if (field[0] == '+' || field[0] == '-') {
    negative = field[0] == '-';
    i = 1;
  }
  if (i == field.size()) return false;
  uint64_t magnitude = 0;
  for (; i < field.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(field[i]))) return false;
    magnitude = magnitude * 10 + static_cast<uint64_t>(field[i] - '0');
    if (magnitude > (uint64_t{1} << 62)) return false;
  }
  value = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

double field_double(const LineReader& reader, const std::vector<std::string_view>& fields,
                    size_t index, const std::string& what) {
  double value = 0;
  if (index >= fields.size()) {
    throw ParseError(reader.file(), reader.line_number(),
                     what + " (field " + std::to_string(index + 1) + ")",
                     "only " + std::to_string(fields.size()) + " fields");
  }
  if (!parse_double(fields[index], value)) {
    throw ParseError(reader.file(), reader.line_number(), what + " (a finite number)",
                     quote(fields[index]));
  }
  return value;
}

int64_t field_int(const LineReader& reader, const std::vector<std::string_view>& fields,
                  size_t index, const std::string& what) {
  int64_t value = 0;
  if (index >= fields.size()) {
    throw ParseError(reader.file(), reader.line_number(),
                     what + " (field " + std::to_string(index + 1) + ")",
                     "only " + std::to_string(fields.size()) + " fields");
  }
  if (!parse_int(fields[index], value)) {
    throw ParseError(reader.file(), reader.line_number(), what + " (an integer)",
                     quote(fields[index]));
  }
  return value;
}

int64_t atomic_number(std::string_view symbol) {
  for (size_t z = 1; z < kElements.size(); ++z) {
    if (symbol == kElements[z]) return static_cast<int64_t>(z);
  }
  return 0;
}

std::string element_symbol(int64_t z) {
  return z >= 1 && z < static_cast<int64_t>(kElements.size()) ? kElements[z] : "?";
}

}  // namespace topo::datasets
