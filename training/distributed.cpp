// SPDX-License-Identifier: Apache-2.0
#include "training/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>

#include "common/check.h"

namespace topo::training {
namespace {

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

int64_t env_integer(const char* name, const std::string& text, int64_t min, int64_t max) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    throw std::runtime_error(c10::str("environment variable ", name, ": expected an integer in [",
                                      min, ", ", max, "], got \"", text, "\""));
  }
  return value;
}

std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

}  // namespace

LaunchEnvironment LaunchEnvironment::from_environment() {
  LaunchEnvironment out;
  const auto rank = environment("RANK"), world = environment("WORLD_SIZE");
  if (!rank && !world) return out;
  if (!rank || !world) {
    throw std::runtime_error(std::string("environment variable ") + (rank ? "WORLD_SIZE" : "RANK") +
                             ": expected it next to " + (rank ? "RANK" : "WORLD_SIZE") +
                             " (set by torchrun-style launchers), got nothing");
  }
  out.launched = true;
  out.world_size = env_integer("WORLD_SIZE", *world, 1, 1 << 20);
  out.rank = env_integer("RANK", *rank, 0, out.world_size - 1);
  out.local_world_size = out.world_size;
  if (const auto v = environment("LOCAL_WORLD_SIZE"))
    out.local_world_size = env_integer("LOCAL_WORLD_SIZE", *v, 1, out.world_size);
  out.local_rank = out.local_world_size == out.world_size ? out.rank : 0;
  if (const auto v = environment("LOCAL_RANK"))
    out.local_rank = env_integer("LOCAL_RANK", *v, 0, out.local_world_size - 1);
  const auto addr = environment("MASTER_ADDR"), port = environment("MASTER_PORT");
  if (out.world_size > 1 && (!addr || addr->empty() || !port)) {
    throw std::runtime_error(
        c10::str("environment variable ", (!addr || addr->empty()) ? "MASTER_ADDR" : "MASTER_PORT",
                 ": expected the address of rank 0's rendezvous (WORLD_SIZE = ", out.world_size,
                 "), got nothing"));
  }
  if (addr) out.master_addr = *addr;
  if (port) out.master_port = env_integer("MASTER_PORT", *port, 1, 65535);
  return out;
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error(std::string("free_local_port: socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("free_local_port: cannot bind 127.0.0.1: " + error);
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int64_t rank = 0, size = 1;
  double timeout = 0;
  std::map<int64_t, c10::intrusive_ptr<c10d::Work>> pending;
  int64_t next_handle = 0, agreements = 0;

  [[noreturn]] void fail(const char* what, const std::exception& e) const {
    throw std::runtime_error(c10::str("rank ", rank, " of ", size, ": ", what,
                                      " failed: ", message_of(e), "; ", silent_ranks()));
  }

  /// Which ranks stopped: every rank whose collective fails reports so in the store, and the
  /// ranks that do not report within 2 s are named. The store is asked on a thread of its own,
  /// given up after 3 s: if rank 0, which serves it, is the one that stopped, it never answers.
  std::string silent_ranks() const {
    const auto answer = std::make_shared<std::promise<std::string>>();
    auto future = answer->get_future();
    std::thread([store = store, answer, rank = rank, size = size] {
      try {
        store->set(c10::str("topo/failed/", rank), std::vector<uint8_t>{1});
        std::vector<int64_t> silent;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        do {
          silent.clear();
          for (int64_t r = 0; r < size; ++r) {
            if (!store->check({c10::str("topo/failed/", r)})) silent.push_back(r);
          }
          if (silent.empty()) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } while (std::chrono::steady_clock::now() < deadline);
        answer->set_value(silent.empty()
                              ? std::string("every rank saw the failure (a network problem?)")
                              : c10::str("rank", silent.size() > 1 ? "s " : " ",
                                         c10::Join(", ", silent), " stopped or did not answer"));
      } catch (const std::exception&) {
        answer->set_value("rank 0, which serves the rendezvous, does not answer");
      }
    }).detach();
    std::string text = "rank 0, which serves the rendezvous, does not answer";
    if (future.wait_for(std::chrono::seconds(3)) == std::future_status::ready) text = future.get();
    return c10::str(text, " (timeout ", timeout, " s)");
  }
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) const {
    try {
      work->wait();
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }
};

ProcessGroup::ProcessGroup() : impl_(std::make_unique<Impl>()) {}
ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::create(const LaunchEnvironment& env,
                                                   double timeout_seconds) {
  TOPO_CHECK_ARG(timeout_seconds > 0, "ProcessGroup::create", "timeout_seconds", "> 0",
                 timeout_seconds);
  TOPO_CHECK_ARG(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
                 "ProcessGroup::create", "env", "0 <= rank < world_size",
                 c10::str("rank ", env.rank, ", world_size ", env.world_size));
  std::shared_ptr<ProcessGroup> out(new ProcessGroup());
  auto& impl = *out->impl_;
  impl.rank = env.rank;
  impl.size = env.world_size;
  impl.timeout = timeout_seconds;
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(std::ceil(timeout_seconds * 1000)));
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env.master_port);
    options.isServer = env.rank == 0;
    options.numWorkers = static_cast<size_t>(env.world_size);
    options.timeout = timeout;
    impl.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    throw std::runtime_error(c10::str(
        "rank ", env.rank, " of ", env.world_size, ": the rendezvous at ", env.master_addr, ":",
        env.master_port, " failed: ", message_of(e), " (all ", env.world_size,
        " processes must start within ", timeout_seconds, " s; rank 0 serves the rendezvous)"));
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // The interface Gloo binds: GLOO_SOCKET_IFNAME as in PyTorch; the loopback when the
    // rendezvous is on it (every process on this machine); else the address this machine's
    // hostname resolves to (PyTorch's default).
    const bool loopback = env.master_addr == "localhost" || env.master_addr == "::1" ||
                          env.master_addr.rfind("127.", 0) == 0;
    if (const auto ifname = environment("GLOO_SOCKET_IFNAME"))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
    else if (loopback)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl.group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("topo/gloo", impl.store), static_cast<int>(env.rank),
        static_cast<int>(env.world_size), options);
  } catch (const std::exception& e) {
    impl.fail("setting up the Gloo process group", e);
  }
  return out;
}

int64_t ProcessGroup::rank() const { return impl_->rank; }
int64_t ProcessGroup::size() const { return impl_->size; }
double ProcessGroup::timeout_seconds() const { return impl_->timeout; }

void ProcessGroup::all_reduce_sum(std::vector<torch::Tensor>& tensors, const char* what) {
  for (auto& t : tensors) {
    TOPO_CHECK_ARG(t.is_contiguous() && t.device().is_cpu(), "ProcessGroup::all_reduce_sum",
                   "tensors", "contiguous CPU tensors", t.sizes());
    wait(start_all_reduce(t), what);
  }
}

int64_t ProcessGroup::start_all_reduce(torch::Tensor tensor) {
  std::vector<at::Tensor> inputs{std::move(tensor)};
  const int64_t handle = impl_->next_handle++;
  try {
    impl_->pending[handle] = impl_->group->allreduce(inputs);
  } catch (const std::exception& e) {
    impl_->fail("starting an all-reduce", e);
  }
  return handle;
}

void ProcessGroup::wait(int64_t handle, const char* what) {
  const auto it = impl_->pending.find(handle);
  TOPO_CHECK_ARG(it != impl_->pending.end(), "ProcessGroup::wait", "handle", "a pending handle",
                 handle);
  auto work = it->second;
  impl_->pending.erase(it);
  impl_->wait(work, what);
}

void ProcessGroup::broadcast(std::vector<torch::Tensor> tensors, int64_t root, const char* what) {
  if (tensors.empty()) return;
  torch::NoGradGuard no_grad;
  try {
    // Packs the tensors into messages of up to 16 MiB (as DDP's module-state broadcast does).
    c10d::broadcast_coalesced(impl_->group, tensors, 16 << 20, static_cast<int>(root));
  } catch (const std::exception& e) {
    impl_->fail(what, e);
  }
}

std::string ProcessGroup::broadcast_bytes(const std::string& bytes, int64_t root,
                                          const char* what) {
  auto size = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong);
  std::vector<at::Tensor> sizes{size};
  impl_->wait(impl_->group->broadcast(sizes, {root, 0}), what);
  const int64_t n = size.item<int64_t>();
  auto data = torch::empty({n}, torch::kUInt8);
  if (rank() == root) std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  if (n > 0) {
    std::vector<at::Tensor> payload{data};
    impl_->wait(impl_->group->broadcast(payload, {root, 0}), what);
  }
  return std::string(reinterpret_cast<const char*>(data.data_ptr<uint8_t>()),
                     static_cast<size_t>(n));
}

void ProcessGroup::run_together(const std::function<void()>& fn, const char* what) {
  std::exception_ptr error;
  std::string message;
  try {
    fn();
  } catch (const std::exception& e) {
    error = std::current_exception();
    message = message_of(e);
  }
  const std::string key = c10::str("topo/error/", impl_->agreements++, "/");
  if (error) {
    try {
      impl_->store->set(key + std::to_string(rank()),
                        std::vector<uint8_t>(message.begin(), message.end()));
    } catch (const std::exception&) {  // the own error matters more than the store's
    }
  }
  auto failed = torch::zeros({size()}, torch::kLong);
  if (error) failed[rank()] = 1;
  std::vector<at::Tensor> flags{failed};
  try {
    all_reduce_sum(flags, what);
  } catch (const std::exception&) {
    if (error) std::rethrow_exception(error);  // the own error says more than the group's
    throw;
  }
  if (failed.sum().item<int64_t>() == 0) return;
  std::string others;
  for (int64_t r = 0; r < size() && !error; ++r) {
    if (failed[r].item<int64_t>() == 0) continue;
    std::string text = "(its message could not be read)";
    try {
      const auto bytes = impl_->store->get(key + std::to_string(r));
      text.assign(bytes.begin(), bytes.end());
    } catch (const std::exception&) {
    }
    others = c10::str("rank ", r, " failed in ", what, ": ", text);
    break;
  }
  // Every rank has read the messages before a failed rank (perhaps rank 0, which serves the
  // store) exits.
  auto done = torch::zeros({1}, torch::kLong);
  std::vector<at::Tensor> barrier{done};
  try {
    all_reduce_sum(barrier, what);
  } catch (const std::exception&) {
  }
  if (error) std::rethrow_exception(error);
  throw std::runtime_error(others);
}

void ProcessGroup::check_same(const std::string& description, const std::string& subject,
                              const char* what) {
  const auto root = broadcast_bytes(description, 0, what);
  run_together(
      [&] {
        TORCH_CHECK(root == description, "rank ", rank(), " has other ", subject,
                    " than rank 0: ", description.substr(0, 300), " vs rank 0's ",
                    root.substr(0, 300));
      },
      what);
}

void broadcast_module(ProcessGroup& group, torch::nn::Module& module, int64_t root) {
  std::vector<torch::Tensor> tensors;
  std::string layout;
  for (const auto& item : module.named_parameters()) {
    tensors.push_back(item.value());
    layout += c10::str(item.key(), item.value().sizes(), item.value().dtype(), ";");
  }
  for (const auto& item : module.named_buffers()) {
    tensors.push_back(item.value());
    layout += c10::str(item.key(), item.value().sizes(), item.value().dtype(), ";");
  }
  // Tensors of other shapes would be broadcast into the wrong places (or never pair up).
  group.check_same(layout, "parameters or buffers (names, shapes, dtypes)",
                   "comparing the model with rank 0's");
  group.broadcast(tensors, root, "broadcasting the model from rank 0");
}

struct GradientReducer::Impl {
  struct Bucket {
    std::vector<size_t> params;
    torch::Tensor flat;
    int64_t pending = 0;
    bool launched = false;
    int64_t handle = -1;
  };
  std::shared_ptr<ProcessGroup> group;
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  std::vector<unsigned> hooks;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;
  std::vector<int64_t> offset_of;
  std::vector<char> ready;
  size_t next_launch = 0;
  bool armed = false;

  torch::Tensor slice(size_t i) {
    const auto& p = params[i];
    return buckets[bucket_of[i]].flat.narrow(0, offset_of[i], p.numel()).view(p.sizes());
  }
  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      auto& b = buckets[next_launch++];
      b.handle = group->start_all_reduce(b.flat);
      b.launched = true;
    }
  }
  void on_gradient(size_t i, const torch::Tensor& grad) {
    if (!armed) return;  // a backward the trainer did not announce (e.g. a user's own)
    TORCH_CHECK(!ready[i], "GradientReducer: parameter ", names[i],
                " received a second gradient in one step; call backward once between prepare() "
                "and finalize()");
    ready[i] = 1;
    slice(i).copy_(grad);
    auto& b = buckets[bucket_of[i]];
    if (--b.pending == 0) launch_ready();
  }
};

GradientReducer::GradientReducer(std::shared_ptr<ProcessGroup> group,
                                 const torch::nn::Module& module, int64_t bucket_bytes)
    : impl_(std::make_unique<Impl>()) {
  TOPO_CHECK_ARG(group != nullptr, "GradientReducer", "group", "a process group", "null");
  TOPO_CHECK_ARG(bucket_bytes >= 1, "GradientReducer", "bucket_bytes", ">= 1", bucket_bytes);
  auto& impl = *impl_;
  impl.group = std::move(group);
  std::set<const void*> seen;  // a parameter shared by two submodules is reduced once
  for (const auto& item : module.named_parameters()) {
    if (!item.value().requires_grad() || !seen.insert(item.value().unsafeGetTensorImpl()).second)
      continue;
    TOPO_CHECK_ARG(item.value().device().is_cpu() && item.value().layout() == torch::kStrided,
                   "GradientReducer", "module", "dense CPU parameters", item.key());
    impl.params.push_back(item.value());
    impl.names.push_back(item.key());
  }
  // Every rank must hold the same parameters in the same order: compare shapes with rank 0's.
  std::string layout;
  for (size_t i = 0; i < impl.params.size(); ++i)
    layout += c10::str(impl.names[i], impl.params[i].sizes(), impl.params[i].dtype(), ";");
  impl.group->check_same(layout, "parameters (names, shapes, dtypes)",
                         "comparing the model's parameters with rank 0's");
  // Buckets in reverse registration order: backward produces the last layers' gradients first.
  const size_t n = impl.params.size();
  impl.bucket_of.assign(n, 0);
  impl.offset_of.assign(n, 0);
  impl.ready.assign(n, 0);
  std::vector<int64_t> bytes;
  for (size_t k = n; k-- > 0;) {
    const auto& p = impl.params[k];
    const int64_t size = p.numel() * static_cast<int64_t>(p.element_size());
    if (impl.buckets.empty() || bytes.back() + size > bucket_bytes ||
        impl.params[impl.buckets.back().params.front()].dtype() != p.dtype()) {
      impl.buckets.emplace_back();
      bytes.push_back(0);
    }
    auto& b = impl.buckets.back();
    impl.bucket_of[k] = impl.buckets.size() - 1;
    impl.offset_of[k] = bytes.back() / static_cast<int64_t>(p.element_size());
    b.params.push_back(k);
    bytes.back() += size;
  }
  for (size_t j = 0; j < impl.buckets.size(); ++j) {
    auto& b = impl.buckets[j];
    const auto& first = impl.params[b.params.front()];
    b.flat = torch::zeros({bytes[j] / static_cast<int64_t>(first.element_size())},
                          first.options().requires_grad(false));
  }
  for (size_t i = 0; i < n; ++i) {
    Impl* raw = impl_.get();
    impl.hooks.push_back(impl.params[i].register_hook(
        [raw, i](const torch::Tensor& grad) { raw->on_gradient(i, grad); }));
  }
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < impl_->params.size(); ++i) impl_->params[i].remove_hook(impl_->hooks[i]);
}

int64_t GradientReducer::num_buckets() const { return static_cast<int64_t>(impl_->buckets.size()); }

void GradientReducer::prepare() {
  auto& impl = *impl_;
  std::fill(impl.ready.begin(), impl.ready.end(), 0);
  for (auto& b : impl.buckets) {
    b.pending = static_cast<int64_t>(b.params.size());
    b.launched = false;
  }
  impl.next_launch = 0;
  impl.armed = true;
}

void GradientReducer::finalize(std::vector<double>& sums) {
  auto& impl = *impl_;
  TORCH_CHECK(impl.armed, "GradientReducer::finalize: call prepare() before the forward pass");
  impl.armed = false;
  torch::NoGradGuard no_grad;
  const size_t n = impl.params.size();
  // Parameters this rank did not use contribute zeros; the used flags travel with `sums`.
  for (size_t j = impl.next_launch; j < impl.buckets.size(); ++j) {
    for (const size_t i : impl.buckets[j].params) {
      if (!impl.ready[i]) impl.slice(i).zero_();
    }
    impl.buckets[j].pending = 0;
  }
  impl.launch_ready();
  auto totals = torch::zeros({static_cast<int64_t>(n + sums.size())}, torch::kDouble);
  auto* t = totals.data_ptr<double>();
  for (size_t i = 0; i < n; ++i) t[i] = impl.ready[i] ? 1.0 : 0.0;
  for (size_t k = 0; k < sums.size(); ++k) t[n + k] = sums[k];
  std::vector<torch::Tensor> small{totals};
  impl.group->all_reduce_sum(small, "all-reducing the step's statistics");
  for (auto& b : impl.buckets) impl.group->wait(b.handle, "all-reducing the gradients");
  const double world = static_cast<double>(impl.group->size());
  for (auto& b : impl.buckets) b.flat.div_(world);
  for (size_t i = 0; i < n; ++i) {
    if (t[i] == 0) continue;  // no rank used it: keep what backward left (nothing)
    auto& p = impl.params[i];
    if (p.grad().defined())
      p.mutable_grad().copy_(impl.slice(i));
    else
      p.mutable_grad() = impl.slice(i).clone();
  }
  for (size_t k = 0; k < sums.size(); ++k) sums[k] = t[n + k];
}

}  // namespace topo::training
