// SPDX-License-Identifier: Apache-2.0
#include "datasets/parsers/array_parsers.h"

#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>

#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 34;

template <typename T>
T read_scalar(const unsigned char* p, bool big_endian) {
  unsigned char buffer[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buffer[i] = big_endian ? p[sizeof(T) - 1 - i] : p[i];
  T value;
  std::memcpy(&value, buffer, sizeof(T));
  return value;
}

/// Decodes `count` elements of `type` ('u', 'i', 'f', 'b') and `size` bytes.
bool decode(const unsigned char* data, int64_t count, char type, int size, bool big_endian,
            std::vector<double>& out) {
  out.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    const unsigned char* p = data + i * size;
    double v = 0;
    switch (type) {
      case 'b':
        v = p[0] != 0;
        break;
      case 'u':
        if (size == 1)
          v = p[0];
        else if (size == 2)
          v = read_scalar<uint16_t>(p, big_endian);
        else if (size == 4)
          v = read_scalar<uint32_t>(p, big_endian);
        else if (size == 8)
          v = static_cast<double>(read_scalar<uint64_t>(p, big_endian));
        else
          return false;
        break;
      case 'i':
        if (size == 1)
          v = static_cast<int8_t>(p[0]);
        else if (size == 2)
          v = read_scalar<int16_t>(p, big_endian);
        else if (size == 4)
          v = read_scalar<int32_t>(p, big_endian);
        else if (size == 8)
          v = static_cast<double>(read_scalar<int64_t>(p, big_endian));
        else
          return false;
        break;
      case 'f':
        if (size == 4)
          v = read_scalar<float>(p, big_endian);
        else if (size == 8)
          v = read_scalar<double>(p, big_endian);
        else
          return false;
        break;
      default:
        return false;
    }
    out[i] = v;
  }
  return true;
}

}  // namespace

int64_t ParsedArray::numel() const {
  int64_t n = 1;
  for (const int64_t s : shape) n *= s;
  return n;
}

ParsedArray parse_idx(std::string_view bytes, const std::string& file) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4 || data[0] != 0 || data[1] != 0) {
    throw ParseError(file, "expected the IDX magic number 0x0000<type><ndim>, got " +
                               (bytes.size() < 4 ? std::string("a file of ") +
                                                       std::to_string(bytes.size()) + " bytes"
                                                 : std::string("other leading bytes")));
  }
  const int type = data[2], ndim = data[3];
  static const std::array<std::pair<int, std::pair<char, int>>, 6> types = {{{0x08, {'u', 1}},
                                                                             {0x09, {'i', 1}},
                                                                             {0x0B, {'i', 2}},
                                                                             {0x0C, {'i', 4}},
                                                                             {0x0D, {'f', 4}},
                                                                             {0x0E, {'f', 8}}}};
  char kind = 0;
  int size = 0;
  for (const auto& [code, spec] : types) {
    if (code == type) std::tie(kind, size) = spec;
  }
  if (kind == 0)
    throw ParseError(file, "expected an IDX data type 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E, got " +
                               std::to_string(type));
  if (ndim < 1 || bytes.size() < 4 + 4 * static_cast<size_t>(ndim))
    throw ParseError(file, "expected IDX dimension sizes, got a truncated header");
  ParsedArray out;
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const int64_t extent = read_scalar<uint32_t>(data + 4 + 4 * d, true);
    out.shape.push_back(extent);
    if (extent > 0 && count > kMaxElements / extent)
      throw ParseError(file, "expected a plausible IDX size, got more than 2^34 elements");
    count *= extent;
  }
  const size_t expected = 4 + 4 * static_cast<size_t>(ndim) + static_cast<size_t>(count) * size;
  if (bytes.size() != expected) {
    throw ParseError(file, "expected " + std::to_string(expected) + " bytes for an IDX array of " +
                               std::to_string(count) + " elements, got " +
                               std::to_string(bytes.size()) + " (truncated or trailing data)");
  }
  out.dtype = std::string(1, kind) + std::to_string(size * 8);
  decode(data + 4 + 4 * ndim, count, kind, size, true, out.values);
  return out;
}

ParsedArray parse_npy(std::string_view bytes, const std::string& file) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0)
    throw ParseError(file, "expected the .npy magic \\x93NUMPY");
  const int major = data[6];
  size_t header_length, offset;
  if (major == 1) {
    header_length = read_scalar<uint16_t>(data + 8, false);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      throw ParseError(file, "expected a .npy v2 header, got a truncated file");
    header_length = read_scalar<uint32_t>(data + 8, false);
    offset = 12;
  } else {
    throw ParseError(file, "expected .npy format version 1, 2 or 3, got " + std::to_string(major));
  }
  if (bytes.size() < offset + header_length)
    throw ParseError(file, "expected a complete .npy header, got a truncated file");
  const std::string header(bytes.substr(offset, header_length));
  const auto value_of = [&](const std::string& key) -> std::string {
    const size_t k = header.find("'" + key + "'");
    if (k == std::string::npos)
      throw ParseError(file, "expected the key '" + key + "' in the .npy header " + quote(header));
    const size_t colon = header.find(':', k);
    if (colon == std::string::npos)
      throw ParseError(file, "expected a value for '" + key + "' in the .npy header");
    return std::string(trim(std::string_view(header).substr(colon + 1)));
  };
  std::string descr = value_of("descr");
  if (descr.size() < 4 || descr[0] != '\'')
    throw ParseError(file, "expected a quoted dtype descr, got " + quote(descr));
  descr = descr.substr(1, descr.find('\'', 1) - 1);
  const std::string fortran = value_of("fortran_order");
  const bool fortran_order = fortran.rfind("True", 0) == 0;
  std::string shape_text = value_of("shape");
  if (shape_text.empty() || shape_text[0] != '(' || shape_text.find(')') == std::string::npos) {
    throw ParseError(file, "expected a shape tuple, got " + quote(shape_text));
  }
  shape_text = shape_text.substr(1, shape_text.find(')') - 1);
  ParsedArray out;
  int64_t count = 1;
  for (const auto& field : split_fields(shape_text, true)) {
    int64_t extent = 0;
    if (!parse_int(field, extent) || extent < 0)
      throw ParseError(file, "expected non-negative shape entries, got " + quote(shape_text));
    out.shape.push_back(extent);
    if (extent > 0 && count > kMaxElements / extent)
      throw ParseError(file, "expected a plausible array size, got more than 2^34 elements");
    count *= extent;
  }
  if (descr.size() < 3) throw ParseError(file, "expected a dtype like '<f8', got " + quote(descr));
  const char order = descr[0], kind = descr[1];
  int64_t size = 0;
  if ((order != '<' && order != '>' && order != '|' && order != '=') ||
      !parse_int(descr.substr(2), size) || std::string("buif").find(kind) == std::string::npos ||
      size < 1 || size > 8) {
    throw ParseError(file,
                     "expected a numeric dtype (b1, i1-i8, u1-u8, f4, f8), got " + quote(descr));
  }
  const size_t start = offset + header_length;
  if (bytes.size() != start + static_cast<size_t>(count * size)) {
    throw ParseError(file, "expected " + std::to_string(start + count * size) +
                               " bytes for shape (" + shape_text + ") of " + descr + ", got " +
                               std::to_string(bytes.size()));
  }
  out.dtype = descr.substr(1);
  if (!decode(data + start, count, kind, static_cast<int>(size), order == '>', out.values)) {
    throw ParseError(file, "expected a supported element size, got " + quote(descr));
  }
  if (fortran_order && out.shape.size() > 1) {  // column-major → row-major
    std::vector<double> c_order(out.values.size());
    const size_t dims = out.shape.size();
    std::vector<int64_t> index(dims, 0);
    for (int64_t f = 0; f < count; ++f) {
      int64_t c = 0;
      for (size_t d = 0; d < dims; ++d) c = c * out.shape[d] + index[d];
      c_order[c] = out.values[f];
      for (size_t d = 0; d < dims; ++d) {  // Fortran order: first index fastest
        if (++index[d] < out.shape[d]) break;
        index[d] = 0;
      }
    }
    out.values.swap(c_order);
  }
  return out;
}

ParsedMesh parse_off(std::string_view text, const std::string& file) {
  LineReader reader(text, file);
  std::string_view line;
  const auto next_content = [&](const std::string& what) -> std::string_view {
    while (reader.next(line)) {
      const auto content = trim(line.substr(0, line.find('#')));
      if (!content.empty()) return content;
    }
    throw ParseError(file, reader.line_number() + 1, what, "end of file");
  };
  auto first = next_content("the OFF header");
  if (first.rfind("OFF", 0) != 0) reader.fail("a first line starting with OFF", first);
  first.remove_prefix(3);
  // ModelNet fuses the counts with the header: "OFF490 518 0".
  auto count_line = first;
  auto counts = split_fields(first);
  if (counts.empty()) {
    count_line = next_content("the vertex, face and edge counts");
    counts = split_fields(count_line);
  }
  if (counts.size() < 2) reader.fail("`vertices faces [edges]` counts", count_line);
  const int64_t v = field_int(reader, counts, 0, "the vertex count");
  const int64_t f = field_int(reader, counts, 1, "the face count");
  if (v < 0 || f < 0) reader.fail("non-negative vertex and face counts", count_line);
  // "x y z\n" takes at least 6 bytes, "3 a b c\n" at least 8: refuse counts the file cannot
  // hold before reserving memory for them.
  reader.check_declared_count(v, 6, "vertices", count_line);
  reader.check_declared_count(f, 8, "faces", count_line);
  ParsedMesh mesh;
  mesh.vertices.reserve(3 * v);
  for (int64_t i = 0; i < v; ++i) {
    const auto fields =
        split_fields(next_content("vertex " + std::to_string(i + 1) + " of " + std::to_string(v)));
    if (fields.size() < 3)
      reader.fail("`x y z` for vertex " + std::to_string(i + 1) + " of " + std::to_string(v), line);
    for (size_t c = 0; c < 3; ++c)
      mesh.vertices.push_back(field_double(reader, fields, c, "a vertex coordinate"));
  }
  for (int64_t i = 0; i < f; ++i) {
    const auto fields =
        split_fields(next_content("face " + std::to_string(i + 1) + " of " + std::to_string(f)));
    const int64_t corners =
        field_int(reader, fields, 0, "the corner count of face " + std::to_string(i + 1));
    if (corners < 3 || static_cast<int64_t>(fields.size()) < corners + 1) {
      reader.fail("a polygon `n i1 … in` with n >= 3 and n indices", line);
    }
    std::vector<int64_t> ids;
    for (int64_t c = 0; c < corners; ++c) {
      const int64_t id = field_int(reader, fields, c + 1, "a vertex index");
      if (id < 0 || id >= v) reader.fail("vertex indices in [0, " + std::to_string(v) + ")", line);
      ids.push_back(id);
    }
    for (int64_t c = 1; c + 1 < corners; ++c)
      mesh.triangles.push_back({ids[0], ids[c], ids[c + 1]});
  }
  return mesh;
}

}  // namespace topo::datasets
