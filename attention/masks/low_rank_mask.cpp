// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/low_rank_mask.h"

#include <cmath>

#include "common/check.h"

namespace topo::attention {
namespace {

void check_factors(const char* function, const torch::Tensor& query_factors,
                   const torch::Tensor& key_factors) {
  ShapeChecker check(function);
  check(query_factors, "query_factors", {"*", "*", "L", "R"});
  check(key_factors, "key_factors", {"*", "*", "S", "R"});
  check.floating(query_factors, "query_factors")
      .same_dtype({{query_factors, "query_factors"}, {key_factors, "key_factors"}})
      .same_device({{query_factors, "query_factors"}, {key_factors, "key_factors"}});
}

}  // namespace

LowRankMaskImpl::LowRankMaskImpl(torch::Tensor query_factors_, torch::Tensor key_factors_) {
  set_factors(std::move(query_factors_), std::move(key_factors_));
}

void LowRankMaskImpl::set_factors(torch::Tensor query_factors_, torch::Tensor key_factors_) {
  check_factors("LowRankMask", query_factors_, key_factors_);
  query_factors = std::move(query_factors_);
  key_factors = std::move(key_factors_);
}

torch::Tensor LowRankMaskImpl::apply(const torch::Tensor& x) {
  ShapeChecker check("LowRankMask::apply");
  check(key_factors, "key_factors", {"*", "*", "S", "R"});
  check(x, "x", {"B", "H", "S", "C"});
  const auto phi_k = key_factors.to(x.scalar_type());
  const auto phi_q = query_factors.to(x.scalar_type());
  return torch::matmul(phi_q, torch::matmul(phi_k.transpose(-1, -2), x));
}

torch::Tensor LowRankMaskImpl::dense(int64_t length, const torch::TensorOptions& options) {
  TORCH_CHECK_VALUE(length == query_factors.size(2), "LowRankMask::dense: `length` must be ",
                    query_factors.size(2), " (rows of `query_factors`), got ", length);
  return torch::matmul(query_factors, key_factors.transpose(-1, -2)).to(options);
}

void LowRankMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::LowRankMask(rank=" << query_factors.size(-1) << ")";
}

torch::Tensor row_wise_kronecker(const torch::Tensor& features, const torch::Tensor& factors) {
  ShapeChecker check("row_wise_kronecker");
  check(features, "features", {"B", "H", "L", "M"});
  check(factors, "factors", {"*", "*", "L", "R"});
  check.same_device({{features, "features"}, {factors, "factors"}});
  auto product = features.unsqueeze(-1) * factors.to(features.scalar_type()).unsqueeze(-2);
  return product.flatten(-2);
}

std::pair<torch::Tensor, torch::Tensor> logit_additive_inputs(const torch::Tensor& q,
                                                              const torch::Tensor& k,
                                                              const torch::Tensor& query_factors,
                                                              const torch::Tensor& key_factors) {
  ShapeChecker check("logit_additive_inputs");
  check(q, "q", {"B", "H", "L", "D"});
  check(k, "k", {"B", "H", "S", "D"});
  check(query_factors, "query_factors", {"*", "*", "L", "R"});
  check(key_factors, "key_factors", {"*", "*", "S", "R"});
  const double scale = std::pow(static_cast<double>(q.size(-1)), -0.25);
  const auto expand = [](const torch::Tensor& f, const torch::Tensor& like) {
    return f.to(like.scalar_type()).expand({like.size(0), like.size(1), f.size(2), f.size(3)});
  };
  return {torch::cat({q * scale, expand(query_factors, q)}, -1),
          torch::cat({k * scale, expand(key_factors, k)}, -1)};
}

}  // namespace topo::attention
