// SPDX-License-Identifier: Apache-2.0
#include "app/task.h"

#include <set>
#include <stdexcept>

namespace topo::app {

// The tasks, one file each (an explicit list, no static-initialisation registration).
const Task& point_cloud_task();
const Task& molecule_task();
const Task& graph_task();

const Task& task(const std::string& name) {
  if (name == "pointcloud") return point_cloud_task();
  if (name == "molecules") return molecule_task();
  if (name == "graph") return graph_task();
  throw std::runtime_error("--task must be pointcloud, molecules or graph, got \"" + name + "\"");
}

void check_splits(const TaskRun& run, const std::string& source) {
  const size_t total = run.train.size() + run.validation.size() + run.test.size();
  for (const auto& [split, name] :
       {std::pair{&run.train, "training"}, std::pair{&run.validation, "validation"},
        std::pair{&run.test, "test"}}) {
    if (!split->empty()) continue;
    throw std::runtime_error(source + ": " + std::to_string(total) +
                             (total == 1 ? " sample leaves the " : " samples leave the ") + name +
                             " split empty (" + std::to_string(run.train.size()) + " training, " +
                             std::to_string(run.validation.size()) + " validation, " +
                             std::to_string(run.test.size()) +
                             " test); a run needs samples in each split");
  }
}

void check_classes(const std::vector<datasets::Sample>& train, int64_t num_classes,
                   const std::vector<std::string>& class_names, const std::string& source) {
  std::set<int64_t> seen;
  for (const auto& s : train) {
    const int64_t label = s.y.item<int64_t>();
    if (label < 0 || label >= num_classes) {
      throw std::runtime_error(s.name + ": label " + std::to_string(label) +
                               " is not a class index in [0, " + std::to_string(num_classes) + ")");
    }
    seen.insert(label);
  }
  if (seen.size() < 2) {
    const std::string only =
        seen.empty() ? "none" : "only \"" + class_names.at(*seen.begin()) + "\"";
    throw std::runtime_error(source + ": classification needs at least 2 classes in the " +
                             std::to_string(train.size()) + " training samples, got " + only +
                             " (a one-class model would score 1.0 without learning anything)");
  }
}

void for_each_batch(
    const std::vector<datasets::Sample>& samples, int64_t batch_size,
    const std::function<void(const std::vector<datasets::Sample>&, int64_t first)>& fn) {
  const int64_t n = static_cast<int64_t>(samples.size());
  for (int64_t start = 0; start < n; start += batch_size) {
    const std::vector<datasets::Sample> batch(samples.begin() + start,
                                              samples.begin() + std::min(n, start + batch_size));
    fn(batch, start);
  }
}

}  // namespace topo::app
