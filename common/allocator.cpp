// SPDX-License-Identifier: Apache-2.0
#include "common/allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace topo {
namespace {

constexpr size_t kLarge = size_t{1} << 20;  // smaller blocks: malloc's heap serves them well
constexpr size_t kRound = size_t{2} << 20;  // large blocks come in multiples of 2 MiB

/// The large-block cache. Every DataPtr's context is its data pointer, so LibTorch's
/// raw_allocate / raw_deallocate work too; small blocks go to c10's alloc_cpu / free_cpu.
/// Leaked on purpose: tensors may be freed during static destruction.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* data = nullptr;
    if (n < kLarge) {  // no lock on the hot path of small tensors
      data = c10::alloc_cpu(n);
      return {data, data, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    } else {
      TORCH_CHECK(n <= SIZE_MAX - kRound, "topo::reuse_freed_memory's CPU allocator: cannot ",
                  "allocate ", n, " bytes");
      const size_t wanted = (n + kRound - 1) / kRound * kRound;
      size_t size = wanted;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = free_.lower_bound(wanted);
        if (it != free_.end() && it->first <= wanted + wanted / 4) {
          data = it->second->data;
          size = it->first;
          cached_ -= size;
          age_.erase(it->second);
          free_.erase(it);
        }
      }
      if (!data) data = map(wanted);
      std::lock_guard<std::mutex> lock(mutex_);
      live_[data] = size;
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void set_limit(size_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = limit;
    trim();
  }

  size_t cached() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  /// The installed instance (release() is a plain function pointer).
  static CachingCpuAllocator* instance;

 private:
  void* map(size_t size) const {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {  // give the cache back, then try once more
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& block : age_) munmap(block.data, block.size);
        free_.clear();
        age_.clear();
        cached_ = 0;
      }
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    TORCH_CHECK(p != MAP_FAILED, "topo::reuse_freed_memory's CPU allocator: out of memory: could ",
                "not map ", size, " bytes");
    return p;
  }

  static void release(void* data) {
    const auto* self = instance;
    size_t size = 0;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      const auto it = self->live_.find(data);
      if (it == self->live_.end()) {
        size = 0;
      } else {
        size = it->second;
        self->live_.erase(it);
        if (size <= self->limit_) {
          self->age_.push_back({data, size});
          self->free_.emplace(size, std::prev(self->age_.end()));
          self->cached_ += size;
          self->trim();
          return;
        }
      }
    }
    if (size == 0) {
      c10::free_cpu(data);  // a small block
    } else {
      munmap(data, size);  // larger than the whole cache
    }
  }

  /// Gives the least recently freed blocks back until the cache fits its limit (mutex held):
  /// blocks of shapes a program no longer makes leave first.
  void trim() const {
    while (cached_ > limit_ && !age_.empty()) {
      const auto oldest = age_.front();
      auto range = free_.equal_range(oldest.size);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == age_.begin()) {
          free_.erase(it);
          break;
        }
      }
      munmap(oldest.data, oldest.size);
      cached_ -= oldest.size;
      age_.pop_front();
    }
  }

  mutable std::mutex mutex_;
  struct Cached {
    void* data;
    size_t size;
  };
  mutable std::list<Cached> age_;  // cached blocks, least recently freed first
  // size → cached block
  mutable std::multimap<size_t, std::list<Cached>::iterator> free_;
  mutable std::unordered_map<void*, size_t> live_;  // large blocks in use → size
  mutable size_t cached_ = 0;
  size_t limit_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

std::mutex install_mutex;

size_t default_limit() {
  if (const char* env = std::getenv("TOPO_CPU_CACHE_MB")) {
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    TORCH_CHECK(end != env && *end == '\0' && mb >= 0,
                "topo::reuse_freed_memory: TOPO_CPU_CACHE_MB must be a number of MiB >= 0, got \"",
                env, "\"");
    return static_cast<size_t>(mb) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t physical = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t{8} << 30;
  return std::min(physical / 8, size_t{4} << 30);
}

}  // namespace

bool reuse_freed_memory(long long cache_limit_bytes) {
  const size_t limit =
      cache_limit_bytes >= 0 ? static_cast<size_t>(cache_limit_bytes) : default_limit();
  std::lock_guard<std::mutex> lock(install_mutex);
  auto*& installed = CachingCpuAllocator::instance;
  if (installed) {
    installed->set_limit(limit);
    return true;
  }
  if (limit == 0) return false;
  installed = new CachingCpuAllocator();
  installed->set_limit(limit);
  // Priority 1 outranks LibTorch's default CPU allocator (registered at 0).
  c10::SetCPUAllocator(installed, /*priority=*/1);
  return true;
}

size_t cached_cpu_bytes() {
  return CachingCpuAllocator::instance ? CachingCpuAllocator::instance->cached() : 0;
}

}  // namespace topo
