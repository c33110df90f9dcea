// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/block_toeplitz_mask.h"

#include <torch/torch.h>

#include "attention/masks/fft_utils.h"
#include "common/check.h"

namespace topo::attention {
namespace {

/// M_ij = f_h(r_i − r_j) from `f` [H, 2n_1−1, …] (semantics applied), optional CLS token.
class BlockToeplitzOperator : public MaskOperator {
 public:
  BlockToeplitzOperator(torch::Tensor f, std::vector<int64_t> shape, bool cls, int64_t length)
      : f_(std::move(f)), shape_(std::move(shape)), cls_(cls), length_(length) {}

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("BlockToeplitzMask::apply");
    check.bind("L", length_, "grid_shape");
    check(x, "x", {"B", f_.size(0), "L", "C"}).floating(x, "x");
    const auto& shape = shape_;
    const int64_t d = static_cast<int64_t>(shape.size());
    const int64_t cls = cls_ ? 1 : 0;
    const auto f = f_.to(x.scalar_type());

    // Kernel: f(Δ) placed at Δ mod s along each axis, with s ≥ 2n − 1 (zero padding), so the
    // circular d-dimensional convolution equals the linear one on the first n cells.
    auto kernel = f;
    for (int64_t axis = 0; axis < d; ++axis) {
      const int64_t n = shape[axis];
      const int64_t s = detail::next_fast_fft_size(2 * n - 1);
      std::vector<int64_t> pad(2 * (d - axis), 0);
      pad[2 * (d - axis) - 1] = s - (2 * n - 1);  // pad at the end of this axis
      kernel = torch::constant_pad_nd(kernel, pad).roll({-(n - 1)}, {axis + 1});
    }
    const auto grid = x.narrow(2, cls, x.size(2) - cls);
    std::vector<int64_t> grid_view{x.size(0), x.size(1)};
    grid_view.insert(grid_view.end(), shape.begin(), shape.end());
    grid_view.push_back(x.size(3));
    auto y = detail::fft_convolve(grid.reshape(grid_view), kernel);
    y = y.reshape({x.size(0), x.size(1), x.size(2) - cls, x.size(3)});
    if (!cls_) return y;
    const auto cls_row = x.sum(2, true);                     // CLS sees every token
    return torch::cat({cls_row, y + x.narrow(2, 0, 1)}, 2);  // every token sees CLS
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    const auto& shape = shape_;
    const int64_t d = static_cast<int64_t>(shape.size());
    // Coordinates of every cell in row-major order, then the flat table index of r_i − r_j.
    std::vector<torch::Tensor> axes;
    for (int64_t n : shape) axes.push_back(torch::arange(n, torch::kInt64));
    const auto coords = torch::stack(torch::meshgrid(axes, "ij"), -1).reshape({-1, d});  // [P, d]
    auto index = torch::zeros({coords.size(0), coords.size(0)}, torch::kInt64);
    for (int64_t axis = 0; axis < d; ++axis) {
      const auto c = coords.select(1, axis);
      index = index * (2 * shape[axis] - 1) + (c.unsqueeze(1) - c.unsqueeze(0) + shape[axis] - 1);
    }
    auto m = f_.flatten(1)
                 .index_select(1, index.flatten().to(f_.device()))
                 .view({f_.size(0), coords.size(0), coords.size(0)});
    if (cls_) m = torch::constant_pad_nd(m, {1, 0, 1, 0}, 1.0);
    return m.unsqueeze(0).to(options);
  }

 private:
  torch::Tensor f_;
  std::vector<int64_t> shape_;
  bool cls_;
  int64_t length_;
};

}  // namespace

BlockToeplitzMaskImpl::BlockToeplitzMaskImpl(const BlockToeplitzMaskOptions& options_)
    : options(options_) {
  const auto& shape = options.grid_shape();
  TOPO_CHECK_ARG(options.num_heads() > 0, "BlockToeplitzMask", "num_heads", "positive",
                 options.num_heads());
  TOPO_CHECK_ARG(!shape.empty() && shape.size() <= 3, "BlockToeplitzMask", "grid_shape",
                 "1 to 3 sizes", c10::IntArrayRef(shape));
  std::vector<int64_t> table_shape{options.num_heads()};
  for (int64_t n : shape) {
    TOPO_CHECK_ARG(n > 0, "BlockToeplitzMask", "grid_shape", "positive sizes",
                   c10::IntArrayRef(shape));
    table_shape.push_back(2 * n - 1);
  }
  const double init = options.semantics() == MaskSemantics::kLogitAdditive ? 0.0 : 1.0;
  table = register_parameter("table", torch::full(table_shape, init));
}

int64_t BlockToeplitzMaskImpl::length() const {
  int64_t cells = 1;
  for (int64_t n : options.grid_shape()) cells *= n;
  return cells + (options.cls_token() ? 1 : 0);
}

std::shared_ptr<const MaskOperator> BlockToeplitzMaskImpl::build(const MaskContext& context) {
  check_context(context, "BlockToeplitzMask", false, false);
  TOPO_CHECK_ARG(context.length == length(), "BlockToeplitzMask", "context.length",
                 std::to_string(length()) + " (the grid's tokens)", context.length);
  auto f = options.semantics() == MaskSemantics::kLogitAdditive ? table.exp() : table;
  return std::make_shared<BlockToeplitzOperator>(f, options.grid_shape(), options.cls_token(),
                                                 length());
}

void BlockToeplitzMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::BlockToeplitzMask(num_heads=" << options.num_heads()
         << ", grid_shape=" << c10::IntArrayRef(options.grid_shape())
         << ", cls_token=" << options.cls_token() << ")";
}

}  // namespace topo::attention
