// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/spanning_tree_mask.h"

#include <torch/torch.h>

#include <vector>

#include "attention/masks/token_layout.h"
#include "attention/masks/tree_exp_mask.h"
#include "common/check.h"
#include "graph/algorithms.h"
#include "graph/tree.h"

namespace topo::attention {

std::string to_string(SpanningTreeKind kind) {
  return kind == SpanningTreeKind::kMinimum ? "minimum" : "random";
}

SpanningTreeKind spanning_tree_kind_from_string(const std::string& name) {
  if (name == "minimum") return SpanningTreeKind::kMinimum;
  if (name == "random") return SpanningTreeKind::kRandom;
  TOPO_CHECK_ARG(false, "spanning_tree_kind_from_string", "name", "\"minimum\" or \"random\"",
                 "\"" + name + "\"");
  return SpanningTreeKind::kRandom;
}

SpanningTreeMaskImpl::SpanningTreeMaskImpl(const SpanningTreeMaskOptions& options_)
    : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "SpanningTreeMask", "num_heads", ">= 1",
                 options.num_heads());
  TOPO_CHECK_ARG(options.num_trees() >= 1, "SpanningTreeMask", "num_trees", ">= 1",
                 options.num_trees());
  lambda = register_parameter("lambda", torch::full({options.num_heads()}, options.lambda()));
}

std::shared_ptr<const MaskOperator> SpanningTreeMaskImpl::build(const MaskContext& context) {
  const auto& g = detail::context_graph(context, "SpanningTreeMask");
  const int64_t trees = options.kind() == SpanningTreeKind::kMinimum ? 1 : options.num_trees();
  const auto& forests = context.cache->get<std::vector<graph::RootedForest>>(
      c10::str("spanning_trees/", to_string(options.kind()), "/", trees), [&] {
        std::vector<graph::RootedForest> drawn;
        for (int64_t t = 0; t < trees; ++t) {
          const auto [edges, weights] = options.kind() == SpanningTreeKind::kMinimum
                                            ? graph::minimum_spanning_tree(g)
                                            : graph::random_spanning_tree(g);
          drawn.push_back(graph::root_forest_on_tokens(g, edges, weights, context.length));
        }
        return drawn;
      });
  return std::make_shared<TreeExpOperator>(forests, lambda, context.batch_size, context.length);
}

void SpanningTreeMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::SpanningTreeMask(heads=" << options.num_heads()
         << ", kind=" << to_string(options.kind())
         << ", trees=" << (options.kind() == SpanningTreeKind::kMinimum ? 1 : options.num_trees())
         << ")";
}

}  // namespace topo::attention
