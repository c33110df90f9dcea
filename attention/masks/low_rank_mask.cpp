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

LowRankMaskOperator::LowRankMaskOperator(torch::Tensor query_factors, torch::Tensor key_factors)
    : query_factors_(std::move(query_factors)), key_factors_(std::move(key_factors)) {
  check_factors("LowRankMask", query_factors_, key_factors_);
}

torch::Tensor LowRankMaskOperator::apply(const torch::Tensor& x) const {
  ShapeChecker check("LowRankMask::apply");
  check(key_factors_, "key_factors", {"*", "*", "S", "R"});
  check(x, "x", {"B", "H", "S", "C"});
  const auto phi_k = key_factors_.to(x.scalar_type());
  const auto phi_q = query_factors_.to(x.scalar_type());
  return torch::matmul(phi_q, torch::matmul(phi_k.transpose(-1, -2), x));
}

torch::Tensor LowRankMaskOperator::dense(const torch::TensorOptions& options) const {
  return torch::matmul(query_factors_, key_factors_.transpose(-1, -2)).to(options);
}

std::optional<std::pair<torch::Tensor, torch::Tensor>> LowRankMaskOperator::fold_into_features(
    const torch::Tensor& phi_q, const torch::Tensor& phi_k) const {
  return std::make_pair(row_wise_kronecker(phi_q, query_factors_),
                        row_wise_kronecker(phi_k, key_factors_));
}

LogitAdditiveLowRankOperator::LogitAdditiveLowRankOperator(torch::Tensor query_factors,
                                                           torch::Tensor key_factors)
    : query_factors_(std::move(query_factors)), key_factors_(std::move(key_factors)) {
  check_factors("LogitAdditiveLowRankMask", query_factors_, key_factors_);
}

torch::Tensor LogitAdditiveLowRankOperator::apply(const torch::Tensor& x) const {
  return torch::matmul(dense(x.options()), x);
}

torch::Tensor LogitAdditiveLowRankOperator::dense(const torch::TensorOptions& options) const {
  return torch::matmul(query_factors_, key_factors_.transpose(-1, -2)).exp().to(options);
}

std::pair<torch::Tensor, torch::Tensor> LogitAdditiveLowRankOperator::transform_inputs(
    const torch::Tensor& q, const torch::Tensor& k) const {
  return logit_additive_inputs(q, k, query_factors_, key_factors_);
}

std::optional<std::pair<torch::Tensor, torch::Tensor>>
LogitAdditiveLowRankOperator::fold_into_features(const torch::Tensor& phi_q,
                                                 const torch::Tensor& phi_k) const {
  return std::make_pair(phi_q, phi_k);
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
