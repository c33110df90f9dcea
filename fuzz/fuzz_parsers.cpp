// SPDX-License-Identifier: Apache-2.0
// libFuzzer entry point for one dataset parser, chosen at compile time by TOPO_FUZZ_<name>.
// A ParseError is the expected outcome for bad input; anything else (a crash, a sanitizer
// report, another exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/parsers/array_parsers.h"
#include "datasets/parsers/graph_parsers.h"
#include "datasets/parsers/molecule_parsers.h"
#include "datasets/parsers/text_parsing.h"

namespace {

/// Splits multi-file inputs (TU, citation graphs) at NUL bytes.
std::vector<std::string> sections(std::string_view input, size_t count) {
  std::vector<std::string> out(count);
  size_t part = 0;
  for (const char c : input) {
    if (c == '\0' && part + 1 < count) {
      ++part;
    } else {
      out[part] += c;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace topo::datasets;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
#if defined(TOPO_FUZZ_qm9)
    parse_qm9_xyz(input, "fuzz.xyz");
#elif defined(TOPO_FUZZ_extxyz)
    parse_extended_xyz(input, "fuzz.extxyz");
#elif defined(TOPO_FUZZ_sdf)
    parse_sdf(input, "fuzz.sdf");
#elif defined(TOPO_FUZZ_off)
    parse_off(input, "fuzz.off");
#elif defined(TOPO_FUZZ_idx)
    parse_idx(input, "fuzz.idx");
#elif defined(TOPO_FUZZ_npy)
    parse_npy(input, "fuzz.npy");
#elif defined(TOPO_FUZZ_tu)
    const auto parts = sections(input, 5);
    TuFiles files{"FUZZ", parts[0], parts[1], parts[2], parts[3], parts[4], "", ""};
    parse_tu_dataset(files);
#elif defined(TOPO_FUZZ_cora)
    const auto parts = sections(input, 2);
    parse_citation_graph(parts[0], "fuzz.content", parts[1], "fuzz.cites");
#else
#error "define TOPO_FUZZ_<parser>"
#endif
  } catch (const ParseError&) {
  }
  return 0;
}
