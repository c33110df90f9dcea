// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/mask.h"

#include "common/check.h"

namespace topo::attention {

std::string to_string(MaskSemantics semantics) {
  return semantics == MaskSemantics::kLogitAdditive ? "logit-additive" : "multiplicative";
}

MaskSemantics mask_semantics_from_string(const std::string& name) {
  if (name == "multiplicative") return MaskSemantics::kMultiplicative;
  if (name == "logit-additive") return MaskSemantics::kLogitAdditive;
  TOPO_CHECK_ARG(false, "mask_semantics_from_string", "name",
                 "\"multiplicative\" or \"logit-additive\"", "\"" + name + "\"");
  return MaskSemantics::kMultiplicative;
}

void check_context(const MaskContext& context, const char* mask, bool needs_pos, bool needs_graph,
                   bool periodic) {
  TOPO_CHECK_ARG(context.batch_size >= 1 && context.length >= 1, mask, "context",
                 "batch_size >= 1 and length >= 1",
                 c10::str(context.batch_size, " and ", context.length));
  ShapeChecker check(mask);
  if (context.key_padding_mask.defined()) {
    check(context.key_padding_mask, "context.key_padding_mask",
          {context.batch_size, context.length});
  }
  if (needs_pos) {
    TOPO_CHECK_ARG(context.pos.defined(), mask, "context.pos",
                   "token positions [B, L, d] (this mask is built from positions)", "undefined");
    check(context.pos, "context.pos", {context.batch_size, context.length, "d"});
    TOPO_CHECK_ARG(periodic || !context.cell.defined(), mask, "context.cell",
                   "undefined (this mask sees positions, not their periodic images; use the "
                   "local-rpe mask or a graph mask for periodic systems)",
                   shape_string(context.cell));
  }
  if (context.cell.defined()) {
    check(context.cell, "context.cell", {context.batch_size, 3, 3});
    TOPO_CHECK_ARG(context.pbc.defined(), mask, "context.pbc",
                   "periodic axes [B, 3] bool next to context.cell", "undefined");
    check(context.pbc, "context.pbc", {context.batch_size, 3});
  }
  if (needs_graph) {
    TOPO_CHECK_ARG(context.graph != nullptr, mask, "context.graph",
                   "the batch's graph (this mask is built from a graph)", "none");
  }
}

}  // namespace topo::attention
