// SPDX-License-Identifier: Apache-2.0
#include "app/task.h"

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
