// SPDX-License-Identifier: Apache-2.0
/// \file
/// Line-oriented parsing shared by the dataset readers. Pure C++ (no LibTorch), so the parsers
/// build alone for libFuzzer and the sanitizer builds. Every error names the file, the line
/// and what was expected.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace topo::datasets {

/// A malformed input file: "<file>:<line>: expected <what>, got <actual>".
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& file, int64_t line, const std::string& expected,
             const std::string& actual);
  ParseError(const std::string& file, const std::string& message);
  const std::string& file() const { return file_; }
  int64_t line() const { return line_; }

 private:
  std::string file_;
  int64_t line_ = 0;
};

/// Reads a text buffer line by line (\n or \r\n), counting lines from 1.
class LineReader {
 public:
  LineReader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}
  /// The next line without its terminator; false at the end.
  bool next(std::string_view& line);
  /// The next line; throws "expected <what>, got end of file" at the end.
  std::string_view require(const std::string& what);
  /// Next line that is not blank (or false).
  bool next_nonblank(std::string_view& line);
  int64_t line_number() const { return line_; }
  const std::string& file() const { return file_; }
  bool at_end() const { return position_ >= text_.size(); }
  /// Bytes not yet read.
  size_t remaining_bytes() const { return text_.size() - std::min(position_, text_.size()); }
  /// Checks a count declared by the line just read (`line`) against what the rest of the file
  /// can hold, before anything is allocated for it: each of the `count` items takes at least
  /// `min_bytes` bytes. Fails "expected at most N <what> (...), got <count>" otherwise.
  void check_declared_count(int64_t count, int64_t min_bytes, const std::string& what,
                            std::string_view line) const;
  [[noreturn]] void fail(const std::string& expected, std::string_view actual) const;

 private:
  std::string_view text_;
  std::string file_;
  size_t position_ = 0;
  int64_t line_ = 0;
};

/// Splits on runs of spaces and tabs (and, with `comma`, commas).
std::vector<std::string_view> split_fields(std::string_view line, bool comma = false);
std::string_view trim(std::string_view text);
/// "…" quoted and shortened for messages.
std::string quote(std::string_view text);

/// Strict number parsing of a whole field (no trailing junk). Doubles accept Mathematica's
/// `1.2*^-6` exponent (QM9) and reject NaN/inf unless `allow_non_finite`.
bool parse_double(std::string_view field, double& value, bool allow_non_finite = false);
bool parse_int(std::string_view field, int64_t& value);

/// Field `index` of `fields` as a number, or a ParseError naming `what`.
double field_double(const LineReader& reader, const std::vector<std::string_view>& fields,
                    size_t index, const std::string& what);
int64_t field_int(const LineReader& reader, const std::vector<std::string_view>& fields,
                  size_t index, const std::string& what);

/// Atomic number of an element symbol ("C", "Cl"; case as in the periodic table), 0 if unknown.
int64_t atomic_number(std::string_view symbol);
/// The symbol of atomic number z (1 … 118).
std::string element_symbol(int64_t z);

}  // namespace topo::datasets
