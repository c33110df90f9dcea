// SPDX-License-Identifier: Apache-2.0
// The pure-C++ parsers on real files and on every kind of bad input. No LibTorch here: the
// sanitizer build (scripts/fuzz.sh) compiles this file with ASan/UBSan as well.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "datasets/parsers/array_parsers.h"
#include "datasets/parsers/graph_parsers.h"
#include "datasets/parsers/molecule_parsers.h"
#include "datasets/parsers/text_parsing.h"

#ifndef TOPO_DATASET_FIXTURES
#include "support/test_data.h"
#define TOPO_DATASET_FIXTURES TOPO_TEST_DATA_DIR "/datasets"
#endif

namespace topo::datasets {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TOPO_DATASET_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs `parse`, expecting a ParseError whose message contains every fragment.
template <typename F>
void expect_parse_error(F&& parse, std::initializer_list<std::string> fragments) {
  try {
    parse();
    ADD_FAILURE() << "expected a ParseError";
  } catch (const ParseError& e) {
    const std::string message = e.what();
    for (const auto& f : fragments)
      EXPECT_NE(message.find(f), std::string::npos) << "missing \"" << f << "\" in: " << message;
  }
}

std::string replace_line(const std::string& text, int line, const std::string& with) {
  std::istringstream in(text);
  std::string out, current;
  for (int i = 1; std::getline(in, current); ++i) out += (i == line ? with : current) + "\n";
  return out;
}

std::string first_lines(const std::string& text, int count) {
  std::istringstream in(text);
  std::string out, current;
  for (int i = 0; i < count && std::getline(in, current); ++i) out += current + "\n";
  return out;
}

TEST(TextParsing, NumbersAreStrict) {
  double v = 0;
  EXPECT_TRUE(parse_double("1.2*^-6", v));
  EXPECT_DOUBLE_EQ(v, 1.2e-6);
  EXPECT_TRUE(parse_double("-0.5e3", v));
  EXPECT_FALSE(parse_double("1.5x", v));
  EXPECT_FALSE(parse_double("nan", v));
  EXPECT_FALSE(parse_double("inf", v));
  EXPECT_FALSE(parse_double("0x1p3", v));
  EXPECT_FALSE(parse_double("", v));
  int64_t i = 0;
  EXPECT_TRUE(parse_int("-42", i));
  EXPECT_EQ(i, -42);
  EXPECT_FALSE(parse_int("4.2", i));
  EXPECT_FALSE(parse_int("99999999999999999999999", i));
  EXPECT_EQ(atomic_number("Cl"), 17);
  EXPECT_EQ(atomic_number("Xx"), 0);
}

TEST(Qm9, ReadsTheOriginalFile) {
  const auto mol = parse_qm9_xyz(fixture("qm9/dsgdb9nsd_000001.xyz"), "dsgdb9nsd_000001.xyz");
  ASSERT_EQ(mol.num_atoms(), 5);
  EXPECT_EQ(mol.atomic_numbers, (std::vector<int64_t>{6, 1, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(mol.positions[0], -0.0126981359);
  EXPECT_DOUBLE_EQ(mol.properties.at("U0"), -40.47893);
  EXPECT_DOUBLE_EQ(mol.properties.at("A"), 157.7118);
  EXPECT_DOUBLE_EQ(mol.atom_arrays.at("mulliken_charge")[0], -0.535689);
  EXPECT_EQ(mol.frequencies.size(), 9u);
  EXPECT_EQ(mol.text.at("smiles"), "C");
  EXPECT_EQ(mol.text.at("inchi"), "InChI=1S/CH4/h1H4");
}

TEST(Qm9, MathematicaExponentsAndBadInput) {
  auto text = fixture("qm9/dsgdb9nsd_000001.xyz");
  const auto with_exponent =
      replace_line(text, 3, "C\t-1.26981359*^-2\t 1.0858041578\t 0.0080009958\t-0.535689");
  EXPECT_DOUBLE_EQ(parse_qm9_xyz(with_exponent, "f.xyz").positions[0], -0.0126981359);
  expect_parse_error([&] { parse_qm9_xyz(first_lines(text, 4), "cut.xyz"); },
                     {"cut.xyz:5", "atom line 3 of 5", "end of file"});
  expect_parse_error([&] { parse_qm9_xyz(replace_line(text, 1, "7"), "count.xyz"); },
                     {"count.xyz"});
  expect_parse_error(
      [&] { parse_qm9_xyz(replace_line(text, 4, "H\t0.1\tabc\t0.2\t0.1"), "tok.xyz"); },
      {"tok.xyz:4", "a coordinate", "\"abc\""});
  expect_parse_error(
      [&] { parse_qm9_xyz(replace_line(text, 4, "H\tnan\t0.1\t0.2\t0.1"), "nan.xyz"); },
      {"nan.xyz:4", "finite"});
  expect_parse_error(
      [&] { parse_qm9_xyz(replace_line(text, 4, "Qq\t0.1\t0.1\t0.2\t0.1"), "el.xyz"); },
      {"el.xyz:4", "element symbol", "\"Qq\""});
  expect_parse_error([&] { parse_qm9_xyz(replace_line(text, 2, "gdb 1\t1.0"), "hdr.xyz"); },
                     {"hdr.xyz:2", "15 properties"});
}

TEST(ExtendedXyz, ReadsQm7bAndTrajectories) {
  const auto qm7b = parse_extended_xyz(fixture("qm7b_head.xyz"), "qm7b_head.xyz");
  ASSERT_EQ(qm7b.size(), 30u);
  EXPECT_EQ(qm7b[0].num_atoms(), 17);
  EXPECT_DOUBLE_EQ(qm7b[0].properties.at("dft_formation_energy_per_atom_in_eV"),
                   -4.254828570313568);
  EXPECT_EQ(qm7b[0].text.at("pbc"), "F F F");
  const auto md = parse_extended_xyz(fixture("ethanol_head.extxyz"), "ethanol.extxyz");
  ASSERT_EQ(md.size(), 20u);
  EXPECT_EQ(md[0].num_atoms(), 9);
  EXPECT_DOUBLE_EQ(md[0].properties.at("energy"), -309.98849965);
  EXPECT_EQ(md[0].atom_array_columns.at("forces"), 3);
  EXPECT_DOUBLE_EQ(md[0].atom_arrays.at("forces")[0], -0.00043058);
  EXPECT_EQ(md[0].text.at("method"), "GFN2-xTB 6.5.1");
}

TEST(ExtendedXyz, BadInput) {
  const auto text = fixture("ethanol_head.extxyz");
  expect_parse_error([&] { parse_extended_xyz(first_lines(text, 15), "cut.extxyz"); },
                     {"cut.extxyz:16", "atom line 3 of 9", "end of file"});
  expect_parse_error([&] { parse_extended_xyz(replace_line(text, 3, "H 1.0 2.0"), "w.extxyz"); },
                     {"w.extxyz:3", "7 fields"});
  expect_parse_error([&] { parse_extended_xyz(replace_line(text, 1, "x"), "n.extxyz"); },
                     {"n.extxyz:1", "atom count"});
  expect_parse_error(
      [&] {
        parse_extended_xyz(replace_line(text, 2, "Properties=species:S:1 energy=1"), "p.extxyz");
      },
      {"pos:R:3"});
  expect_parse_error([&] { parse_extended_xyz(replace_line(text, 2, "energy=\"1.0"), "q.extxyz"); },
                     {"q.extxyz:2", "closing quote"});
  expect_parse_error([&] { parse_extended_xyz("", "e.extxyz"); },
                     {"e.extxyz", "at least one frame"});
}

TEST(Sdf, ReadsV2000WithBondsAndData) {
  const auto mols = parse_sdf(fixture("cdk2_head.sdf"), "cdk2_head.sdf");
  ASSERT_EQ(mols.size(), 5u);
  EXPECT_EQ(mols[0].name, "ZINC03814457");
  EXPECT_EQ(mols[0].num_atoms(), 30);
  EXPECT_EQ(mols[0].bonds.size(), 31u);
  EXPECT_DOUBLE_EQ(mols[0].positions[0], 5.4230);
  EXPECT_EQ(mols[0].atomic_numbers[4], 8);
  const auto text = fixture("cdk2_head.sdf");
  expect_parse_error([&] { parse_sdf(first_lines(text, 20), "cut.sdf"); },
                     {"cut.sdf", "end of file"});
  expect_parse_error(
      [&] {
        parse_sdf(replace_line(text, 5, "    5.4230   -0.4412    0.7616 Zz  0  0"), "el.sdf");
      },
      {"el.sdf:5", "\"Zz\""});
  expect_parse_error([&] { parse_sdf(replace_line(text, 35, " 99  2  1  0"), "b.sdf"); },
                     {"b.sdf:35", "atom numbers in [1, 30]"});
  // The bond block must hold the counts line's 31 bonds: cut short by the properties block, by
  // the end of the file, or followed by a 32nd bond line.
  expect_parse_error(
      [&] { parse_sdf(fixture("truncated_bonds.sdf"), "truncated_bonds.sdf"); },
      {"truncated_bonds.sdf:65", "expected 31 bond lines (declared by the counts line, line 4)",
       "got 30: the bond block ends with \"M  END\""});
  expect_parse_error([&] { parse_sdf(first_lines(text, 50), "eof.sdf"); },
                     {"eof.sdf:51", "expected 31 bond lines", "got 16 before the end of the file"});
  expect_parse_error(
      [&] { parse_sdf(replace_line(text, 66, " 17 18  1  0  0  0\nM  END"), "long.sdf"); },
      {"long.sdf:66", "expected 31 bond lines", "got another bond line \" 17 18  1  0  0  0\""});
  const auto whole =
      parse_sdf(fixture("cdk2_head.sdf"), "cdk2_head.sdf");  // every record still reads
  for (const auto& m : whole) EXPECT_FALSE(m.bonds.empty());
}

TEST(Off, ReadsMeshesAndModelNetsFusedHeader) {
  const auto mesh = parse_off(fixture("meshes/cube-meshed.off"), "cube.off");
  EXPECT_GT(mesh.triangles.size(), 0u);
  const auto text = fixture("meshes/eight.off");
  const auto normal = parse_off(text, "eight.off");
  // ModelNet's layout: "OFF" fused with the counts on the first line.
  std::istringstream in(text);
  std::string header, counts, rest;
  std::getline(in, header);
  std::getline(in, counts);
  std::ostringstream tail;
  tail << in.rdbuf();
  const auto fused = parse_off("OFF" + counts + "\n" + tail.str(), "fused.off");
  EXPECT_EQ(fused.vertices, normal.vertices);
  EXPECT_EQ(fused.triangles, normal.triangles);
  expect_parse_error(
      [&] { parse_off(first_lines(text, 10), "cut.off"); },
      {"cut.off:2", "got 315 declared by \"315 634 0\" (a truncated file or a wrong count)"});
  // Counts the file can hold, but lines missing at the end.
  expect_parse_error([&] { parse_off("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n", "short.off"); },
                     {"short.off", "face 1 of 1", "end of file"});
  expect_parse_error([&] { parse_off("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "idx.off"); },
                     {"idx.off:6", "vertex indices in [0, 3)"});
  expect_parse_error([&] { parse_off("PLY\n", "bad.off"); }, {"bad.off:1", "starting with OFF"});
}

TEST(DeclaredCounts, AreCheckedAgainstTheFileBeforeAllocating) {
  // 25 bytes declaring 2^30 vertices once reserved 24 GiB; now an error naming the count line.
  expect_parse_error(
      [&] { parse_off(fixture("defects/huge_vertex_count.off"), "huge.off"); },
      {"huge.off:2: expected at most 1 vertices (the remaining 6 bytes of the file hold no more)",
       "got 1073741824 declared by \"1073741824 1 0\""});
  // Counts on their own line are quoted in the message (they used to read `got ""`).
  expect_parse_error([&] { parse_off(fixture("defects/count_1e12.off"), "big.off"); },
                     {"big.off:2", "got 1000000000000 declared by \"1000000000000 1 0\""});
  expect_parse_error([&] { parse_off("OFF\n3 1000 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n", "f.off"); },
                     {"f.off:2", "faces", "got 1000 declared"});
  expect_parse_error(
      [&] { parse_extended_xyz(fixture("defects/huge_atom_count.extxyz"), "huge.extxyz"); },
      {"huge.extxyz:1: expected at most", "atom lines", "got 999999 declared by \"999999\""});
  const auto qm9 = fixture("qm9/dsgdb9nsd_000001.xyz");
  expect_parse_error([&] { parse_qm9_xyz(replace_line(qm9, 1, "99999"), "q.xyz"); },
                     {"q.xyz:1: expected at most", "got 99999 declared"});
}

TEST(Idx, ReadsMnistAndRejectsTruncation) {
  // A 2×2×2 uint8 IDX array built by hand, then truncated.
  std::string bytes = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  const auto array = parse_idx(bytes, "a.idx");
  EXPECT_EQ(array.shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(array.values[7], 8.0);
  expect_parse_error([&] { parse_idx(bytes.substr(0, 20), "t.idx"); },
                     {"t.idx", "expected 24 bytes", "got 20"});
  expect_parse_error([&] { parse_idx(std::string("\x01\x00\x08\x01", 4), "m.idx"); },
                     {"m.idx", "magic"});
  // Found by fuzz_idx: huge dimension sizes used to overflow the element count.
  const std::string overflow = {0,      0,      8, 3, '\x00', '\x01', 0,      0,
                                '\xff', '\x00', 0, 0, '\xff', '\xff', '\xff', '\xff'};
  expect_parse_error([&] { parse_idx(overflow, "o.idx"); }, {"o.idx", "2^34"});
}

TEST(Npy, ReadsLittleAndBigEndianAndFortranOrder) {
  const auto make = [](const std::string& descr, bool fortran, const std::string& shape,
                       const std::string& data) {
    std::string header = "{'descr': '" + descr +
                         "', 'fortran_order': " + (fortran ? "True" : "False") +
                         ", 'shape': " + shape + ", }";
    header += std::string(63 - (10 + header.size()) % 64, ' ') + "\n";
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    return out + header + data;
  };
  const std::string little = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
                              4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0};
  const auto c = parse_npy(make("<i4", false, "(2, 3)", little), "c.npy");
  EXPECT_EQ(c.values, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  const auto f = parse_npy(make("<i4", true, "(2, 3)", little), "f.npy");  // column-major data
  EXPECT_EQ(f.values, (std::vector<double>{1, 3, 5, 2, 4, 6}));
  const std::string big = {0, 0, 0, 7};
  EXPECT_EQ(parse_npy(make(">i4", false, "(1,)", big), "b.npy").values[0], 7.0);
  expect_parse_error(
      [&] { parse_npy(make("<i4", false, "(2, 3)", little.substr(0, 20)), "t.npy"); },
      {"t.npy", "bytes"});
  expect_parse_error([&] { parse_npy(make("<U8", false, "(1,)", std::string(32, 'a')), "s.npy"); },
                     {"s.npy", "numeric dtype"});
}

TEST(TuDataset, ReadsMutagAndChecksIndices) {
  TuFiles files;
  files.name = "MUTAG";
  files.a = fixture("MUTAG/MUTAG_A.txt");
  files.graph_indicator = fixture("MUTAG/MUTAG_graph_indicator.txt");
  files.graph_labels = fixture("MUTAG/MUTAG_graph_labels.txt");
  files.node_labels = fixture("MUTAG/MUTAG_node_labels.txt");
  files.edge_labels = fixture("MUTAG/MUTAG_edge_labels.txt");
  const auto tu = parse_tu_dataset(files);
  EXPECT_EQ(tu.num_graphs, 188);
  EXPECT_EQ(tu.num_nodes, 3371);
  EXPECT_EQ(tu.edges.size() / 2, 7442u);
  auto bad = files;
  bad.a = replace_line(files.a, 3, "99999, 1");
  expect_parse_error([&] { parse_tu_dataset(bad); },
                     {"MUTAG_A.txt:3", "node ids in [1, 3371]", "99999"});
  bad = files;
  bad.a = replace_line(files.a, 3, "1, 3000");
  expect_parse_error([&] { parse_tu_dataset(bad); }, {"MUTAG_A.txt:3", "inside one graph"});
  bad = files;
  bad.graph_labels = first_lines(files.graph_labels, 100);
  expect_parse_error([&] { parse_tu_dataset(bad); }, {"MUTAG_graph_labels.txt", "188 labels"});
  bad = files;
  bad.node_labels = replace_line(files.node_labels, 2, "x");
  expect_parse_error([&] { parse_tu_dataset(bad); }, {"MUTAG_node_labels.txt:2", "an integer"});
}

TEST(CitationGraph, RejectsUnknownPapers) {
  const std::string content = "p1 0 1 A\np2 1 0 B\np3 1 1 A\n";
  const auto graph = parse_citation_graph(content, "c.content", "p1 p2\np3 p1\n", "c.cites");
  EXPECT_EQ(graph.class_names, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(graph.edges, (std::vector<int64_t>{1, 0, 0, 2}));
  expect_parse_error([&] { parse_citation_graph(content, "c.content", "p1 p9\n", "c.cites"); },
                     {"c.cites:1", "\"p9\""});
  expect_parse_error(
      [&] { parse_citation_graph("p1 0 1 A\np2 1 B\n", "c.content", "", "c.cites"); },
      {"c.content:2", "2 word indicators"});
  expect_parse_error([&] { parse_citation_graph("p1 0 2 A\n", "c.content", "", "c.cites"); },
                     {"c.content:1", "0/1"});
}

}  // namespace
}  // namespace topo::datasets
