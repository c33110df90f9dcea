// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/causal_mask.h"

#include "attention/linear_attention.h"
#include "common/check.h"

namespace topo::attention {
namespace {

class CausalOperator : public MaskOperator {
 public:
  CausalOperator(int64_t length, int64_t chunk_size) : length_(length), chunk_size_(chunk_size) {}
  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker("CausalMask::apply")(x, "x", {"B", "H", length_, "C"});
    return x.cumsum(2);
  }
  torch::Tensor dense(const torch::TensorOptions& options) const override {
    return torch::ones({1, 1, length_, length_}, options).tril();
  }
  bool is_causal() const override { return true; }
  std::optional<torch::Tensor> attend(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v,
                                      const torch::Tensor& key_padding_mask) const override {
    return linear_attention(phi_q, phi_k, v,
                            LinearAttentionFuncOptions()
                                .causal(true)
                                .key_padding_mask(key_padding_mask)
                                .chunk_size(chunk_size_));
  }

 private:
  int64_t length_, chunk_size_;
};

}  // namespace

CausalMaskImpl::CausalMaskImpl(const CausalMaskOptions& options_) : options(options_) {
  TOPO_CHECK_ARG(options.chunk_size() >= 1, "CausalMask", "chunk_size", ">= 1",
                 options.chunk_size());
}

std::shared_ptr<const MaskOperator> CausalMaskImpl::build(const MaskContext& context) {
  check_context(context, "CausalMask", false, false);
  return std::make_shared<CausalOperator>(context.length, options.chunk_size());
}

void CausalMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::CausalMask(chunk_size=" << options.chunk_size() << ")";
}

}  // namespace topo::attention
