// SPDX-License-Identifier: Apache-2.0
#include "training/steps.h"

#include <torch/torch.h>

#include <map>
#include <stdexcept>

namespace topo::training {

StepOutput classification_output(const torch::Tensor& logits, const torch::Tensor& labels,
                                 double label_smoothing) {
  TORCH_CHECK_VALUE(label_smoothing >= 0 && label_smoothing < 1,
                    "classification_output: label_smoothing must be in [0, 1), got ",
                    label_smoothing);
  // cross_entropy's own "Target 10 is out of bounds." names neither the range nor the function.
  TORCH_CHECK_VALUE(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
                    "classification_output: expected logits [N, C] and labels [N], got ",
                    logits.sizes(), " and ", labels.sizes());
  if (labels.numel() > 0) {
    const int64_t low = labels.min().item<int64_t>(), high = labels.max().item<int64_t>();
    TORCH_CHECK_VALUE(low >= 0 && high < logits.size(1),
                      "classification_output: labels must be class indices in [0, ", logits.size(1),
                      ") for a model with ", logits.size(1), " classes, got values in [", low, ", ",
                      high, "]");
  }
  StepOutput out;
  out.loss = torch::nn::functional::cross_entropy(
      logits, labels,
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
  out.metric_sum = (logits.argmax(1) == labels).sum().item<double>();
  out.count = labels.size(0);
  return out;
}

StepOutput energy_force_output(const torch::Tensor& energy, const torch::Tensor& target_energy,
                               const torch::Tensor& forces, const torch::Tensor& target_forces,
                               const torch::Tensor& key_padding_mask, double force_weight,
                               const std::string& energy_name, const torch::Tensor& stress,
                               const torch::Tensor& target_stress, double stress_weight) {
  const auto target = target_energy.to(energy.scalar_type());
  StepOutput out;
  out.loss = torch::mse_loss(energy, target);
  const auto error = energy.detach() - target;
  out.count = energy.size(0);
  const double energy_abs = error.abs().sum().item<double>();
  if (target_forces.defined()) {
    out.loss =
        out.loss + force_weight * torch::mse_loss(forces, target_forces.to(forces.scalar_type()));
    // Padded atoms have zero target and predicted force; count only real components.
    const double components =
        3.0 * (key_padding_mask.defined() ? (~key_padding_mask).sum().item<double>()
                                          : static_cast<double>(forces.size(0) * forces.size(1)));
    out.metric_sum = (forces.detach() - target_forces).abs().sum().item<double>();
    out.metric_count = components;
    out.extra.push_back({energy_name + "_mae", energy_abs, double(out.count)});
  } else {
    out.metric_sum = energy_abs;
  }
  out.extra.push_back(
      {energy_name + "_rmse", error.pow(2).sum().item<double>(), double(out.count), true});
  if (target_stress.defined()) {
    const auto target = target_stress.to(stress.scalar_type());
    out.loss = out.loss + stress_weight * torch::mse_loss(stress, target);
    out.extra.push_back({"stress_mae", (stress.detach() - target).abs().sum().item<double>(),
                         double(stress.numel())});
  }
  return out;
}

double majority_class_accuracy(const std::vector<datasets::Sample>& train,
                               const std::vector<datasets::Sample>& test) {
  std::map<int64_t, int64_t> counts;
  for (const auto& s : train) ++counts[s.y.item<int64_t>()];
  if (counts.empty() || test.empty()) return 0.0;
  const auto majority =
      std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      })->first;
  int64_t hits = 0;
  for (const auto& s : test) hits += s.y.item<int64_t>() == majority;
  return static_cast<double>(hits) / static_cast<double>(test.size());
}

double zero_force_mae(const std::vector<datasets::Sample>& test) {
  double sum = 0, count = 0;
  for (const auto& s : test) {
    sum += s.forces.abs().sum().item<double>();
    count += static_cast<double>(s.forces.numel());
  }
  return count > 0 ? sum / count : 0.0;
}

double mean_stress_mae(const std::vector<datasets::Sample>& train,
                       const std::vector<datasets::Sample>& test) {
  if (train.empty() || test.empty()) return 0.0;
  auto mean = torch::zeros({3, 3}, torch::kDouble);
  for (const auto& s : train) mean += s.stress.to(torch::kDouble);
  mean /= static_cast<double>(train.size());
  double sum = 0;
  for (const auto& s : test) sum += (s.stress.to(torch::kDouble) - mean).abs().sum().item<double>();
  return sum / (9.0 * static_cast<double>(test.size()));
}

double reference_energy_mae(const std::vector<datasets::Sample>& test,
                            const torch::Tensor& references, bool mean) {
  double sum = 0;
  for (const auto& s : test) {
    const auto terms = references.to(torch::kDouble).index_select(0, s.z);
    const double predicted = (mean ? terms.mean() : terms.sum()).item<double>();
    sum += std::abs(predicted - s.y[0].item<double>());
  }
  return test.empty() ? 0.0 : sum / static_cast<double>(test.size());
}

}  // namespace topo::training
