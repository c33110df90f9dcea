// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/adjacency_mask.h"

#include <torch/torch.h>

#include "attention/masks/sparse_mask.h"
#include "attention/masks/token_layout.h"

namespace topo::attention {

std::shared_ptr<const MaskOperator> AdjacencyMaskImpl::build(const MaskContext& context) {
  const auto& g = detail::context_graph(context, "AdjacencyMask");
  // Token edges and weights of A + I, once per context.
  const auto& structure =
      context.cache->get<std::pair<torch::Tensor, torch::Tensor>>("adjacency", [&] {
        const auto tokens = graph::node_to_token(g, context.length);
        const auto loops = torch::arange(g.num_nodes(), torch::kLong);
        const auto edges = torch::cat({g.edge_index(), torch::stack({loops, loops})}, 1);
        const auto weights =
            torch::cat({g.weight(), torch::ones({g.num_nodes()}, torch::kDouble)}).unsqueeze(0);
        return std::make_pair(tokens.index({edges}), weights);
      });
  return std::make_shared<SparseMaskOperator>(structure.first,
                                              structure.second.to(context.options.dtype()),
                                              context.batch_size, context.length);
}

void AdjacencyMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::AdjacencyMask()";
}

}  // namespace topo::attention
