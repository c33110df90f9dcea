// SPDX-License-Identifier: Apache-2.0
// The all-masks suite: every mask of the registry (attention/masks/registry.h), and variants of
// its settings, against its dense matrix (float64), inside masked linear attention against the
// dense reference with padding, with finite-difference gradients for every parameter, padding
// invariance through the attention layer, `to(dtype)` moving the live parameters, structure
// built once per context, and every setting changing the mask. A mask added to the registry is
// tested here without touching this file (a test fails until it has a case below).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <sstream>

#include "attention/linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/registry.h"
#include "attention/masks/sparse_mask.h"
#include "attention/masks/token_layout.h"
#include "graph/graph.h"
#include "support/gradcheck.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

constexpr int64_t kBatch = 2, kLength = 12, kHeads = 2;

struct MaskCase {
  std::string name;  ///< test name
  std::string mask;  ///< registry name
  MaskSettings settings;
};

std::ostream& operator<<(std::ostream& out, const MaskCase& c) { return out << c.name; }

std::vector<MaskCase> mask_cases() {
  return {
      {"causal", "causal", {{"chunk_size", int64_t{5}}}},
      {"toeplitz", "toeplitz", {{"max_length", int64_t{16}}}},
      {"toeplitz_causal_multiplicative",
       "toeplitz",
       {{"max_length", int64_t{12}},
        {"causal", true},
        {"semantics", std::string("multiplicative")}}},
      {"block_toeplitz", "block-toeplitz", {{"grid_shape", std::string("3x4")}}},
      {"block_toeplitz_cls_additive",
       "block-toeplitz",
       {{"grid_shape", std::string("11")},
        {"cls_token", true},
        {"semantics", std::string("logit-additive")}}},
      {"flt",
       "flt",
       {{"dim", int64_t{2}},
        {"features", int64_t{4}},
        {"semantics", std::string("multiplicative")}}},
      {"flt_logit_additive",
       "flt",
       {{"dim", int64_t{2}}, {"features", int64_t{3}}, {"family", std::string("gaussian")}}},
      {"local_rpe", "local-rpe", {{"radius", 0.6}, {"bins", int64_t{4}}}},
      {"adjacency", "adjacency", {}},
      {"diffusion", "diffusion", {{"tolerance", 1e-13}, {"time", 0.7}}},
      {"random_walk",
       "random-walk",
       {{"steps", int64_t{3}}, {"normalization", std::string("random-walk")}}},
      {"grf", "grf", {{"max_length", int64_t{3}}, {"walks_per_node", int64_t{4}}}},
      {"spanning_tree", "spanning-tree", {{"trees", int64_t{2}}}},
      {"spanning_tree_minimum", "spanning-tree", {{"kind", std::string("minimum")}}},
      {"tree_function",
       "tree-function",
       {{"max_distance", int64_t{6}}, {"semantics", std::string("multiplicative")}}},
  };
}

/// Element 1 has 9 real tokens (3 trailing padding tokens); element 0 has 12.
torch::Tensor padding() {
  auto p = torch::zeros({kBatch, kLength}, torch::kBool);
  p[1].narrow(0, 9, 3).fill_(true);
  return p;
}

/// A context with everything a mask may need: positions in the unit square, a connected random
/// graph per element (12 and 9 nodes, weighted), padding. Deterministic.
MaskContext full_context(torch::Dtype dtype = torch::kDouble) {
  torch::manual_seed(11);
  std::vector<int64_t> rows, cols;
  const auto add_graph = [&](int64_t offset, int64_t n) {
    for (int64_t i = 1; i < n; ++i) {  // a random tree, then a few extra edges
      rows.push_back(offset + torch::randint(0, i, {1}, torch::kLong).item<int64_t>());
      cols.push_back(offset + i);
    }
    for (int64_t e = 0; e < n / 2; ++e) {
      const int64_t a = torch::randint(0, n, {1}, torch::kLong).item<int64_t>();
      const int64_t b = torch::randint(0, n, {1}, torch::kLong).item<int64_t>();
      if (a != b) {
        rows.push_back(offset + std::min(a, b));
        cols.push_back(offset + std::max(a, b));
      }
    }
  };
  add_graph(0, 12);
  add_graph(12, 9);
  // Repeated edges would be multi-edges: keep one of each.
  std::set<std::pair<int64_t, int64_t>> unique;
  std::vector<int64_t> r, c;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (unique.insert({rows[i], cols[i]}).second) {
      r.push_back(rows[i]);
      c.push_back(cols[i]);
    }
  }
  const auto edges = torch::stack({torch::tensor(r), torch::tensor(c)});
  MaskContext context;
  context.batch_size = kBatch;
  context.length = kLength;
  context.key_padding_mask = padding();
  context.pos = torch::rand({kBatch, kLength, 2}, torch::kDouble).to(dtype);
  context.graph = std::make_shared<graph::Graph>(
      edges, torch::rand({edges.size(1)}, torch::kDouble) + 0.5, 21,
      torch::cat({torch::zeros({12}, torch::kLong), torch::ones({9}, torch::kLong)}));
  context.options = torch::TensorOptions().dtype(dtype);
  return context;
}

/// The module in float64 with its parameters moved away from their (often symmetric)
/// initial values, so that tests see head- and offset-dependent masks.
std::shared_ptr<MaskImpl> make_test_mask(const MaskCase& c) {
  torch::manual_seed(3);
  auto mask = make_mask(c.mask, kHeads, c.settings);
  mask->to(torch::kDouble);
  torch::NoGradGuard guard;
  for (auto& p : mask->parameters()) p.add_(torch::rand_like(p) * 0.3);
  return mask;
}

class AllMasks : public ::testing::TestWithParam<MaskCase> {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_P(AllMasks, ApplyMatchesDenseProduct) {
  auto mask = make_test_mask(GetParam());
  const auto op = mask->build(full_context());
  const auto x = torch::randn({kBatch, kHeads, kLength, 5}, torch::kDouble);
  const auto dense = op->dense(torch::kDouble);
  ASSERT_EQ(dense.dim(), 4);
  EXPECT_TENSOR_CLOSE(op->apply(x), torch::matmul(dense, x), {1e-10, 1e-10});
}

TEST_P(AllMasks, MaskedAttentionMatchesDenseReferenceWithPadding) {
  auto mask = make_test_mask(GetParam());
  const auto op = mask->build(full_context());
  const auto q = torch::rand({kBatch, kHeads, kLength, 4}, torch::kDouble) + 0.05;
  const auto k = torch::rand({kBatch, kHeads, kLength, 4}, torch::kDouble) + 0.05;
  auto v = torch::randn({kBatch, kHeads, kLength, 3}, torch::kDouble);
  v.select(0, 1).narrow(1, 9, 3).fill_(1e8);  // garbage in padded values must not leak
  const auto expected =
      test::dense_masked_kernel_attention(q, k, v, op->dense(torch::kDouble), padding());
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *op, padding()), expected, {1e-9, 1e-10});
  // Blocks of one feature channel give the same result.
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *op, padding(), 1), expected, {1e-9, 1e-10});
}

TEST_P(AllMasks, GradientsOfEveryParameterMatchFiniteDifferences) {
  auto mask = make_test_mask(GetParam());
  const auto context = full_context();
  const auto q =
      torch::rand({1, kHeads, kLength, 2}, torch::kDouble).expand({kBatch, -1, -1, -1}) + 0.05;
  const auto k = torch::rand({kBatch, kHeads, kLength, 2}, torch::kDouble) + 0.05;
  const auto v = torch::randn({kBatch, kHeads, kLength, 2}, torch::kDouble);
  const auto w = torch::randn({kBatch, kHeads, kLength, 2}, torch::kDouble);
  const auto parameters = mask->parameters();
  if (parameters.empty()) GTEST_SKIP() << GetParam().mask << " has no parameters";
  // Rebuilt from the same context each time: the same walks and trees, new parameter values.
  EXPECT_PARAMETER_GRADCHECK(parameters, [&] {
    return (masked_linear_attention(q, k, v, *mask->build(context), padding()) * w).sum();
  });
}

TEST_P(AllMasks, RealTokensIgnoreWhatIsInThePadding) {
  auto mask = make_test_mask(GetParam());
  const bool logit_additive = mask->extra_input_dims() > 0;
  LinearAttention attention(
      LinearAttentionOptions(8, kHeads)
          .feature_map(FeatureMapOptions(1)
                           .kind(logit_additive ? FeatureMapKind::kSoftmaxPositive
                                                : FeatureMapKind::kEluPlusOne)
                           .num_features(16))
          .masks({mask}));
  attention->to(torch::kDouble);
  attention->eval();
  auto context = full_context();
  auto x = torch::randn({kBatch, kLength, 8}, torch::kDouble);
  const auto before = attention->forward(x, x, x, padding(), {}, &context);
  x.select(0, 1).narrow(0, 9, 3).normal_(0, 5);
  auto moved = full_context();
  moved.cache = context.cache;                        // the same walks and trees
  moved.pos.select(0, 1).narrow(0, 9, 3).add_(0.37);  // padded tokens' positions are garbage too
  const auto after = attention->forward(x, x, x, padding(), {}, &moved);
  const auto real = ~padding();
  EXPECT_TENSOR_CLOSE(after.index({real}), before.index({real}), {1e-9, 1e-10});
}

// The softmax-exact feature map: on a sparse mask, out_i = Σ_j M_ij exp(q_i·k_j/√d) v_j / Σ_j
// M_ij exp(q_i·k_j/√d) over real keys (the dense reference below); other masks are refused
// when the layer is built. A mask's sparse() must say whether it builds a SparseMaskOperator.
TEST_P(AllMasks, SoftmaxExactIsTheExactSoftmaxAlongSparseMasks) {
  auto mask = make_test_mask(GetParam());
  const auto exact = LinearAttentionOptions(8, kHeads)
                         .feature_map(FeatureMapOptions(1).kind(FeatureMapKind::kSoftmaxExact))
                         .masks({mask});
  auto context = full_context();
  const auto op = mask->build(context);
  ASSERT_EQ(mask->sparse(), dynamic_cast<const SparseMaskOperator*>(op.get()) != nullptr);
  if (!mask->sparse()) {
    EXPECT_THROW_WITH(LinearAttention{exact},
                      "the softmax-exact feature map needs one sparse mask (adjacency, "
                      "local-rpe), optionally with a logit-additive low-rank mask (flt), and no "
                      "other; got masks: ");
    return;
  }
  LinearAttention attention(exact);
  attention->to(torch::kDouble);
  const auto x = torch::randn({kBatch, kLength, 8}, torch::kDouble) * 2;
  const auto heads = [](const torch::Tensor& t) {
    return t.view({kBatch, kLength, kHeads, 4}).transpose(1, 2);
  };
  const auto q = heads(attention->q_proj(x)), k = heads(attention->k_proj(x)),
             v = heads(attention->v_proj(x));
  const auto real_keys = (~padding()).to(torch::kDouble).view({kBatch, 1, 1, kLength});
  const auto weights =
      op->dense(torch::kDouble) * torch::exp(torch::matmul(q, k.transpose(-1, -2)) / 2) * real_keys;
  const auto out = torch::matmul(weights, v) / weights.sum(-1, true);
  const auto expected =
      attention->out_proj(out.transpose(1, 2).reshape({kBatch, kLength, 8})).index({~padding()});
  const auto got = attention->forward(x, x, x, padding(), {}, &context).index({~padding()});
  EXPECT_TENSOR_CLOSE(got, expected, {1e-12, 1e-12});
  // Gradients in the inputs and in the mask's own parameters, through the exponentiation.
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        return attention->forward(in[0], in[0], in[0], padding(), {}, &context);
      },
      {x.detach().requires_grad_()});
  if (!mask->parameters().empty()) {
    const auto w = torch::randn({kBatch, kLength, 8}, torch::kDouble);
    EXPECT_PARAMETER_GRADCHECK(mask->parameters(), [&] {
      return (attention->forward(x, x, x, padding(), {}, &context) * w).sum();
    });
  }
}

// softmax-exact with the FLT RPE in its logit-additive form on top of the adjacency mask:
// edge (i, j) weighs exp(q_i·k_j/√d + rpe(r_i − r_j)), the FLT's widened queries and keys
// (transform_inputs) dotted exactly; a multiplicative flt (folded by a Kronecker product) is
// refused.
TEST(SoftmaxExact, CombinesWithTheLogitAdditiveFltOnly) {
  const MaskCase flt{"flt", "flt", {{"dim", int64_t{2}}, {"features", int64_t{3}}}};
  auto rpe = make_test_mask(flt);
  auto adjacency = make_test_mask({"adjacency", "adjacency", {}});
  LinearAttention attention(
      LinearAttentionOptions(8, kHeads)
          .feature_map(FeatureMapOptions(1).kind(FeatureMapKind::kSoftmaxExact))
          .masks({rpe, adjacency}));
  attention->to(torch::kDouble);
  auto context = full_context();
  const auto x = torch::randn({kBatch, kLength, 8}, torch::kDouble);
  const auto heads = [](const torch::Tensor& t) {
    return t.view({kBatch, kLength, kHeads, 4}).transpose(1, 2);
  };
  const auto [q, k] = rpe->build(context)->transform_inputs(heads(attention->q_proj(x)),
                                                            heads(attention->k_proj(x)));
  const auto v = heads(attention->v_proj(x));
  const auto real_keys = (~padding()).to(torch::kDouble).view({kBatch, 1, 1, kLength});
  const auto weights = adjacency->build(context)->dense(torch::kDouble) *
                       torch::exp(torch::matmul(q, k.transpose(-1, -2))) * real_keys;
  const auto out = torch::matmul(weights, v) / weights.sum(-1, true);
  const auto expected =
      attention->out_proj(out.transpose(1, 2).reshape({kBatch, kLength, 8})).index({~padding()});
  EXPECT_TENSOR_CLOSE(attention->forward(x, x, x, padding(), {}, &context).index({~padding()}),
                      expected, {1e-12, 1e-12});
  auto multiplicative = flt;
  multiplicative.settings.set("semantics", std::string("multiplicative"));
  EXPECT_THROW_WITH(
      LinearAttention(LinearAttentionOptions(8, kHeads)
                          .feature_map(FeatureMapOptions(1).kind(FeatureMapKind::kSoftmaxExact))
                          .masks({make_test_mask(multiplicative), adjacency})),
      "the softmax-exact feature map needs one sparse mask");
}

TEST_P(AllMasks, ToDtypeMovesTheLiveParameters) {
  torch::manual_seed(3);
  auto mask = make_mask(GetParam().mask, kHeads, GetParam().settings);  // float32 parameters
  mask->to(torch::kDouble);
  const auto op = mask->build(full_context());
  const auto x = torch::randn({kBatch, kHeads, kLength, 3}, torch::kDouble);
  const auto y = op->apply(x);
  EXPECT_EQ(y.scalar_type(), torch::kDouble);
  if (mask->parameters().empty()) return;
  y.square().sum().backward();
  for (const auto& item : mask->named_parameters()) {
    const auto& name = item.key();
    const auto& p = item.value();
    EXPECT_EQ(p.scalar_type(), torch::kDouble) << name;
    ASSERT_TRUE(p.grad().defined())
        << name << ": the operator did not use the module's live parameter";
    EXPECT_EQ(p.grad().scalar_type(), torch::kDouble) << name;
  }
}

TEST_P(AllMasks, StructureIsBuiltOncePerContext) {
  auto mask = make_test_mask(GetParam());
  const auto context = full_context();
  const auto first = mask->build(context)->dense(torch::kDouble);
  const auto entries = context.cache->size();
  const auto second = mask->build(context)->dense(torch::kDouble);
  EXPECT_EQ(context.cache->size(), entries);
  EXPECT_TENSOR_CLOSE(second, first);  // the same walks and trees, not new draws
}

INSTANTIATE_TEST_SUITE_P(Registry, AllMasks, ::testing::ValuesIn(mask_cases()),
                         [](const ::testing::TestParamInfo<MaskCase>& info) {
                           return info.param.name;
                         });

TEST(MaskRegistry, EveryRegisteredMaskHasACase) {
  std::set<std::string> covered;
  for (const auto& c : mask_cases()) covered.insert(c.mask);
  for (const auto& name : mask_names())
    EXPECT_TRUE(covered.count(name)) << name << " has no case in mask_cases()";
}

/// Everything observable about a mask built with `settings`: its printout, its parameters and
/// (when it can be built over the test context) its dense matrix.
std::string signature(const std::string& name, const MaskSettings& settings) {
  torch::manual_seed(5);
  auto mask = make_mask(name, kHeads, settings);
  std::ostringstream out;
  out << *mask;
  for (const auto& item : mask->named_parameters()) {
    out << item.key() << item.value().sizes() << item.value().sum().item<double>();
  }
  try {
    torch::manual_seed(6);
    mask->to(torch::kDouble);
    out << mask->build(full_context())->dense(torch::kDouble).sum().item<double>();
  } catch (const c10::Error&) {
    out << "(not buildable)";
  }
  return out.str();
}

/// A valid value other than the default.
MaskSettingValue other_value(const MaskSettingInfo& s) {
  if (!s.choices.empty())
    return s.choices[0] == std::get<std::string>(s.default_value) ? s.choices[1] : s.choices[0];
  switch (s.default_value.index()) {
    case 0:
      return !std::get<bool>(s.default_value);
    case 1: {
      const int64_t v = std::get<int64_t>(s.default_value);
      return v < 0 ? int64_t{3} : v + 1;
    }
    case 2: {
      const double v = std::get<double>(s.default_value);
      return v == 0 ? 0.25 : v * 0.5;
    }
    default:
      return std::string("4x3");  // grid_shape, the one free-text setting
  }
}

TEST(MaskRegistry, EverySettingChangesTheMask) {
  int checked = 0;
  for (const auto& c : mask_cases()) {
    const auto& info = mask_info(c.mask);
    for (const auto& setting : info.settings) {
      if (c.settings.contains(setting.name) && setting.name != "grid_shape")
        continue;  // varied by another case
      auto changed = c.settings;
      changed.set(setting.name, other_value(setting));
      try {
        resolve_mask_settings(c.mask, changed);
      } catch (const c10::Error& e) {  // rejected as having no effect here: honest too
        EXPECT_NE(std::string(e.what()).find("has no effect"), std::string::npos) << e.what();
        ++checked;
        continue;
      }
      EXPECT_NE(signature(c.mask, c.settings), signature(c.mask, changed))
          << c.mask << ": setting " << setting.name << " = " << to_string(other_value(setting))
          << " changed nothing";
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

TEST(MaskRegistry, SettingsAreCheckedNamingTheMaskAndTheSetting) {
  EXPECT_THROW_WITH(make_mask("difusion", 2), "make_mask: `name` must be one of \"causal\"");
  EXPECT_THROW_WITH(make_mask("diffusion", 2, {{"tme", 1.0}}),
                    "make_mask(\"diffusion\"): `settings` must be among its settings (time, "
                    "tolerance, normalization, algorithm), "
                    "got an unknown setting \"tme\"");
  EXPECT_THROW_WITH(make_mask("random-walk", 2, {{"steps", 2.5}}),
                    "`steps` must be an integer, got a number (2.5)");
  EXPECT_THROW_WITH(make_mask("grf", 2, {{"halt_probability", 1.5}}),
                    "`halt_probability` must be <= 0.99, got 1.5");
  EXPECT_THROW_WITH(
      make_mask("diffusion", 2, {{"normalization", std::string("sym")}}),
      "`normalization` must be one of \"symmetric\", \"random-walk\", \"none\", got \"sym\"");
  EXPECT_THROW_WITH(make_mask("block-toeplitz", 2), "`grid_shape` must be 1 to 3 positive sizes");
  EXPECT_THROW_WITH(make_mask("adjacency", 2, {{"k", int64_t{1}}}),
                    "empty (this mask has no settings)");
  // An integer is accepted for a real-valued setting.
  EXPECT_EQ(resolve_mask_settings("diffusion", {{"time", int64_t{2}}}).real("time"), 2.0);
}

TEST(MaskRegistry, GraphMaskAlgorithmSettingChoosesWhatRuns) {
  // `algorithm` of the spectral graph masks: the series never decomposes W; dense does (the
  // eigendecomposition appears in the context's cache); both give the same attention.
  const auto phi = [](int64_t seed) {
    torch::manual_seed(seed);
    return torch::rand({kBatch, kHeads, kLength, 4}, torch::kDouble) + 0.1;
  };
  for (const std::string name : {"diffusion", "random-walk"}) {
    torch::Tensor outputs[2];
    for (int dense = 0; dense < 2; ++dense) {
      auto mask = make_mask(name, kHeads, {{"algorithm", std::string(dense ? "dense" : "series")}});
      mask->to(torch::kDouble);
      const auto context = full_context();
      outputs[dense] = masked_linear_attention(phi(1), phi(2), phi(3), *mask->build(context));
      EXPECT_EQ(detail::has_spectral_blocks(context, graph::Normalization::kSymmetric), dense == 1)
          << name;
    }
    EXPECT_TENSOR_CLOSE(outputs[1], outputs[0], {1e-5, 1e-5});  // the series at tolerance 1e-6
  }
  EXPECT_THROW_WITH(make_mask("diffusion", 2, {{"algorithm", std::string("fast")}}),
                    "`algorithm` must be one of \"auto\", \"series\", \"dense\", got \"fast\"");
}

TEST(MaskRegistry, CommandLineSpecsRoundTrip) {
  const auto spec = parse_mask_spec("diffusion:time=0.5,normalization=random-walk");
  EXPECT_EQ(spec.name, "diffusion");
  EXPECT_EQ(spec.settings.real("time"), 0.5);
  EXPECT_EQ(spec.settings.text("normalization"), "random-walk");
  EXPECT_EQ(parse_mask_spec(to_string(spec)), spec);
  EXPECT_EQ(parse_mask_spec("grf:antithetic=true,max_length=3").settings.integer("max_length"), 3);
  EXPECT_THROW_WITH(parse_mask_spec("grf:max_length=three"),
                    "`grf setting max_length` must be an integer, got \"three\"");
  EXPECT_THROW_WITH(parse_mask_spec("grf:max_length"), "name:key=value");
  EXPECT_THROW_WITH(parse_mask_spec("grf:max_length=-1"), "`max_length` must be >= 0, got -1");
  const auto text = describe_masks();
  for (const auto& name : mask_names())
    EXPECT_NE(text.find(name + " ("), std::string::npos) << name;
}

TEST(MaskRegistry, MasksNeedWhatTheyAreBuiltFrom) {
  MaskContext sequence;
  sequence.batch_size = 2;
  sequence.length = 5;
  EXPECT_THROW_WITH(make_mask("flt", 2, {{"dim", int64_t{2}}})->build(sequence),
                    "FLTMask: `context.pos` must be token positions [B, L, d]");
  EXPECT_THROW_WITH(make_mask("adjacency", 2)->build(sequence),
                    "AdjacencyMask: `context.graph` must be the batch's graph");
  EXPECT_THROW_WITH(make_mask("toeplitz", 2, {{"max_length", int64_t{4}}})->build(sequence),
                    "`length` must be in [1, max_length=4], got 5");
  EXPECT_THROW_WITH(
      make_mask("block-toeplitz", 2, {{"grid_shape", std::string("2x3")}})->build(sequence),
      "`context.length` must be 6 (the grid's tokens), got 5");
}

}  // namespace
}  // namespace topo::attention
