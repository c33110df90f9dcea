// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/flt_mask.h"

#include <torch/torch.h>

#include "attention/masks/low_rank_mask.h"
#include "common/check.h"

namespace topo::attention {

geometry::SpectralFamily spectral_family_from_string(const std::string& name) {
  using geometry::SpectralFamily;
  if (name == "gaussian-mixture") return SpectralFamily::kGaussianMixture;
  if (name == "gaussian") return SpectralFamily::kGaussian;
  if (name == "matern") return SpectralFamily::kMatern;
  if (name == "cauchy") return SpectralFamily::kCauchy;
  if (name == "local-box") return SpectralFamily::kLocalBox;
  TOPO_CHECK_ARG(false, "spectral_family_from_string", "name",
                 "\"gaussian-mixture\", \"gaussian\", \"matern\", \"cauchy\" or \"local-box\"",
                 "\"" + name + "\"");
  return SpectralFamily::kGaussian;
}

std::string to_string(geometry::SpectralFamily family) {
  using geometry::SpectralFamily;
  switch (family) {
    case SpectralFamily::kGaussianMixture:
      return "gaussian-mixture";
    case SpectralFamily::kGaussian:
      return "gaussian";
    case SpectralFamily::kMatern:
      return "matern";
    case SpectralFamily::kCauchy:
      return "cauchy";
    case SpectralFamily::kLocalBox:
      return "local-box";
  }
  return "?";
}

FLTMaskImpl::FLTMaskImpl(const FLTMaskOptions& options_) : options(options_) {
  TOPO_CHECK_ARG(options.num_features() >= 1, "FLTMask", "num_features", ">= 1",
                 options.num_features());
  rpe = register_module(
      "rpe", geometry::SpectralRPE(geometry::SpectralRPEOptions(options.dim(), options.num_heads())
                                       .num_features(options.num_features())
                                       .family(options.family())
                                       .length_scale(options.length_scale())));
}

int64_t FLTMaskImpl::extra_input_dims() const {
  return options.semantics() == MaskSemantics::kLogitAdditive ? 2 * options.num_features() : 0;
}

std::shared_ptr<const MaskOperator> FLTMaskImpl::build(const MaskContext& context) {
  check_context(context, "FLTMask", true, false);
  TOPO_CHECK_ARG(context.pos.size(2) == options.dim(), "FLTMask", "context.pos",
                 c10::str("positions of dimension ", options.dim(), " (the mask's dim)"),
                 shape_string(context.pos));
  const auto [fq, fk] = rpe(context.pos);
  if (options.semantics() == MaskSemantics::kLogitAdditive) {
    return std::make_shared<LogitAdditiveLowRankOperator>(fq, fk);
  }
  // Multiplicative: 1 + f̂ through a constant column (positive while f̂ > −1).
  const auto one = torch::ones({fq.size(0), fq.size(1), fq.size(2), 1}, fq.options());
  return std::make_shared<LowRankMaskOperator>(torch::cat({fq, one}, -1),
                                               torch::cat({fk, one}, -1));
}

void FLTMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::FLTMask(heads=" << options.num_heads() << ", dim=" << options.dim()
         << ", features=" << options.num_features() << ", family=" << to_string(options.family())
         << ", semantics=" << to_string(options.semantics()) << ")";
}

}  // namespace topo::attention
