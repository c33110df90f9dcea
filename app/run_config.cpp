// SPDX-License-Identifier: Apache-2.0
#include "app/run_config.h"

#include <c10/util/Exception.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "attention/masks/registry.h"
#include "datasets/file_io.h"
#include "datasets/transforms.h"
#include "models/transformer_block.h"

namespace topo::app {
namespace {

constexpr double kInt64Max = 9.2e18;  // seeds: anything an int64 holds, with margin for doubles

std::vector<Setting> build_schema() {
  using S = Section;
  const std::vector<std::string> clouds{"pointcloud"}, molecules{"molecules"}, graphs{"graph"};
  auto feature_maps = models::feature_map_names();
  return {
      // Data: what the run reads, and where it writes.
      {"task",
       S::kData,
       std::string("pointcloud"),
       "what to learn",
       {},
       {},
       {"pointcloud", "molecules", "graph"}},
      {"dataset",
       S::kData,
       std::string("mnist"),
       "pointcloud: mnist | modelnet; molecules: extxyz | qm9 | sdf; graph: tu",
       {},
       {},
       {"mnist", "modelnet", "extxyz", "qm9", "sdf", "tu"},
       {},
       {{"pointcloud", std::string("mnist")},
        {"molecules", std::string("extxyz")},
        {"graph", std::string("tu")}}},
      {"data", S::kData, std::string(""),
       "dataset folder or file (default for mnist: examples/data/mnist_10k, the folder holding "
       "images-idx3-ubyte.gz and labels-idx1-ubyte.gz)"},
      {"name",
       S::kData,
       std::string("MUTAG"),
       "TU dataset name (files <data>/<name>_A.txt, ...)",
       {},
       {},
       {},
       graphs},
      {"target",
       S::kData,
       std::string("energy"),
       "extended-XYZ or SDF property, or QM9 property (U0, gap, ...); --energy-key is the "
       "same setting",
       {},
       {},
       {},
       molecules,
       {},
       true,
       "",
       // The word of ASE and of potential-fitting codes (REF_energy, REF_forces: --forces-key).
       "--energy-key"},
      {"forces_key",
       S::kData,
       std::string("forces"),
       "extended-XYZ per-atom column holding the forces (e.g. REF_forces)",
       {},
       {},
       {},
       molecules},
      {"stress_key",
       S::kData,
       std::string("stress"),
       "extended-XYZ header key holding the stress (e.g. REF_stress); virial= when absent",
       {},
       {},
       {},
       molecules},
      {"num_points",
       S::kData,
       int64_t{1024},
       "points sampled per mesh (modelnet)",
       1.0,
       1e7,
       {},
       clouds},
      {"augment",
       S::kData,
       std::vector<std::string>{},
       "training augmentations, NAME[:key=value,...] each (repeat the flag), applied in order, "
       "or none: "
       "rotate[:degrees=180] (about z; 2-D: in the plane), rotate-so3, scale[:low=0.8,high=1.25], "
       "jitter[:sigma=0.01,clip=0.05], dropout[:max_ratio=0.875] (random point dropout); "
       "default mnist: scale:low=0.85,high=1.15 jitter:sigma=0.02; modelnet: rotate scale jitter",
       {},
       {},
       {},
       clouds,
       {{"pointcloud/mnist",
         std::vector<std::string>{"scale:low=0.85,high=1.15", "jitter:sigma=0.02,clip=0.05"}},
        {"pointcloud/modelnet",
         std::vector<std::string>{"rotate:degrees=180", "scale:low=0.8,high=1.25",
                                  "jitter:sigma=0.01,clip=0.05"}}}},
      {"workers", S::kData, int64_t{1}, "background data-loading threads", 0.0, 64.0},
      {"seed", S::kData, int64_t{0},
       "seed of the model's initialisation, shuffling and augmentation", 0.0, kInt64Max},
      {"threads",
       S::kData,
       int64_t{0},
       "compute threads (0: TOPO_NUM_THREADS / OMP_NUM_THREADS / all)",
       0.0,
       4096.0,
       {},
       {},
       {},
       false},
      {"out",
       S::kData,
       std::string("runs/topoformer"),
       "run folder (config.json, checkpoint, metrics, pictures)",
       {},
       {},
       {},
       {},
       {},
       false},
      // Model.
      {"embed_dim", S::kModel, int64_t{64}, "token width", 1.0, 65536.0},
      {"heads", S::kModel, int64_t{4}, "attention heads (must divide embed_dim)", 1.0, 1024.0},
      {"layers", S::kModel, int64_t{3}, "transformer blocks", 1.0, 1000.0},
      {"features", S::kModel, int64_t{32}, "random features per head (random feature maps)", 1.0,
       65536.0},
      {"feature_map",
       S::kModel,
       std::string("softmax"),
       "softmax (FAVOR+) | softmax-hyperbolic | relu-random | relu | elu (elu+1) | softmax-exact "
       "(exact softmax along a sparse mask: adjacency, local-rpe)",
       {},
       {},
       feature_maps,
       {},
       {{"pointcloud", std::string("softmax")},
        {"molecules", std::string("elu")},
        {"graph", std::string("elu")}}},
      {"masks",
       S::kModel,
       std::vector<std::string>{},
       "masks of every block, NAME[:key=value,...] each (`topoformer masks` lists them), or none",
       {},
       {},
       {},
       {},
       {{"pointcloud", std::vector<std::string>{"flt:features=16,length_scale=0.3"}},
        {"molecules", std::vector<std::string>{"local-rpe"}},
        {"graph", std::vector<std::string>{"diffusion"}}},
       true,
       "--mask"},
      {"dropout",
       S::kModel,
       0.1,
       "dropout probability",
       0.0,
       0.99,
       {},
       {},
       {{"pointcloud", 0.1}, {"molecules", 0.0}, {"graph", 0.1}}},
      {"knn",
       S::kModel,
       int64_t{16},
       "neighbours of the kNN graph (graph masks) and of the pooling neighbourhoods (stages)",
       1.0,
       10000.0,
       {},
       clouds},
      {"stages",
       S::kModel,
       int64_t{1},
       "stages of blocks with farthest-point downsampling between them",
       1.0,
       100.0,
       {},
       clouds},
      {"downsample_ratio",
       S::kModel,
       0.25,
       "fraction of points kept between stages",
       1e-9,
       1.0,
       {},
       clouds},
      {"voxels",
       S::kModel,
       std::string(""),
       "voxel tokens: cells per axis over [-1, 1]^d, e.g. 14x14 (grid masks such as "
       "block-toeplitz); empty: points",
       {},
       {},
       {},
       clouds},
      {"readout",
       S::kModel,
       std::string("sum"),
       "how per-atom terms become the target: sum (extensive: energies; forces and stress need "
       "it), mean or attention (softmax pooling) for intensive targets (gap, energy per atom)",
       {},
       {},
       {"sum", "mean", "attention"},
       molecules},
      {"density_channels",
       S::kModel,
       int64_t{16},
       "radial density channels added to the atom embeddings (EAM-like; 0: off)",
       0.0,
       1024.0,
       {},
       molecules},
      {"cutoff",
       S::kModel,
       5.0,
       "radius (Angstrom) of the radius graph (graph masks), the density channels and the default "
       "local-rpe radius",
       1e-6,
       1000.0,
       {},
       molecules},
      // Training.
      {"epochs", S::kTraining, int64_t{10}, "training epochs", 1.0, 100000.0},
      {"batch_size", S::kTraining, int64_t{32}, "samples per batch (per process with nproc > 1)",
       1.0, 1048576.0},
      {"lr", S::kTraining, 3e-3, "peak learning rate (AdamW, warm-up then cosine)", 1e-12, 10.0},
      {"label_smoothing",
       S::kTraining,
       0.0,
       "label smoothing of the training cross-entropy (Szegedy et al. 2016; evaluation is "
       "unsmoothed)",
       0.0,
       0.99,
       {},
       {"pointcloud", "graph"}},
      {"votes",
       S::kTraining,
       int64_t{1},
       "test-time augmentation (PointNet++'s voting): the test metric and predict average the "
       "class probabilities of this many copies of each cloud, the first as it is, the others "
       "with the training augmentations (seeded per cloud); validation is not voted",
       1.0,
       1000.0,
       {},
       clouds},
      {"weight_decay", S::kTraining, 0.02, "AdamW weight decay", 0.0, 10.0},
      {"warmup", S::kTraining, 0.05, "fraction of steps spent warming up", 0.0, 0.99},
      {"grad_clip", S::kTraining, 1.0, "clip the gradient norm to this (0: off)", 0.0, 1e9},
      {"patience", S::kTraining, int64_t{0}, "early-stopping patience in epochs (0: off)", 0.0,
       100000.0},
      {"force_weight",
       S::kTraining,
       10.0,
       "weight of the force MSE (data with forces)",
       0.0,
       1e6,
       {},
       molecules},
      {"stress_weight",
       S::kTraining,
       100.0,
       "weight of the stress MSE in (eV/A^3)^2 (periodic data with a stress)",
       0.0,
       1e9,
       {},
       molecules},
      {"nproc", S::kTraining, int64_t{1},
       "data-parallel worker processes on this machine (c10d, Gloo); under a launcher that sets "
       "RANK and WORLD_SIZE (torchrun), its WORLD_SIZE",
       1.0, 1024.0},
      {"dist_timeout", S::kTraining, 300.0,
       "seconds a worker waits for the others (rendezvous and each all-reduce) before the job "
       "fails",
       1.0, 86400.0},
      {"resume",
       S::kTraining,
       false,
       "continue from <out>/checkpoint.pt",
       {},
       {},
       {},
       {},
       {},
       false},
      {"progress",
       S::kTraining,
       true,
       "live progress line (epoch lines are always printed)",
       {},
       {},
       {},
       {},
       {},
       false,
       "--no-progress"},
  };
}

const char* type_name(const Value& value) {
  switch (value.index()) {
    case 0:
      return "a boolean";
    case 1:
      return "an integer";
    case 2:
      return "a number";
    case 3:
      return "a string";
    default:
      return "a list of strings";
  }
}

/// The offset of the first byte that breaks well-formed UTF-8 (Unicode Table 3-7: no overlong
/// forms, no surrogates, nothing above U+10FFFF; what JSON writers accept), or npos.
size_t invalid_utf8_at(const std::string& text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = byte(i);
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // range of the second byte
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = byte(i + k);
      const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
      if (next < lo || next > hi) return i;
    }
    i += length;
  }
  return std::string::npos;
}

/// `text` with bytes outside printable ASCII written as \xHH (for messages about bad bytes).
std::string escaped(const std::string& text) {
  std::string out;
  char hex[8];
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else {
      std::snprintf(hex, sizeof(hex), "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string show(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return "\"" + v + "\"";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out = "[";
          for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
          return out + "]";
        } else {
          std::ostringstream out;
          out << v;
          return out.str();
        }
      },
      value);
}

std::string show_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

[[noreturn]] void fail(const std::string& source, const std::string& message) {
  throw std::runtime_error(source + ": " + message);
}

/// Text as a value of `setting`'s type (flags, plain YAML scalars).
Value parse_text(const Setting& setting, const std::string& text, const std::string& source) {
  const auto bad = [&]() {
    return std::runtime_error(source + ": \"" + setting.key + "\" must be " +
                              type_name(setting.default_value) + ", got \"" + text + "\"");
  };
  switch (setting.default_value.index()) {
    case 0:
      if (text == "true") return true;
      if (text == "false") return false;
      throw bad();
    case 1: {
      if (text.empty()) throw bad();
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (end != text.c_str() + text.size()) throw bad();
      if (errno == ERANGE) {
        fail(source,
             "\"" + setting.key + "\" must be an integer that fits in 64 bits, got " + text);
      }
      return static_cast<int64_t>(v);
    }
    case 2: {
      if (text.empty()) throw bad();
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size()) throw bad();
      return v;
    }
    case 3:
      return text;
    default:
      return std::vector<std::string>{text};
  }
}

Value from_json(const Setting& setting, const nlohmann::json& j, const std::string& source) {
  const auto bad = [&]() {
    return std::runtime_error(source + ": \"" + setting.key + "\" must be " +
                              type_name(setting.default_value) + ", got " + j.dump());
  };
  switch (setting.default_value.index()) {
    case 0:
      if (!j.is_boolean()) throw bad();
      return j.get<bool>();
    case 1:
      if (!j.is_number_integer()) throw bad();
      if (j.is_number_unsigned() &&
          j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(source,
             "\"" + setting.key + "\" must be an integer that fits in 64 bits, got " + j.dump());
      }
      return j.get<int64_t>();
    case 2:
      if (!j.is_number()) throw bad();
      return j.get<double>();
    case 3:
      if (!j.is_string()) throw bad();
      return j.get<std::string>();
    default: {
      if (!j.is_array()) throw bad();
      std::vector<std::string> list;
      for (const auto& item : j) {
        if (!item.is_string()) throw bad();
        list.push_back(item.get<std::string>());
      }
      return list;
    }
  }
}

nlohmann::json to_json_value(const Value& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

/// JSON with every object's keys checked for repeats (nlohmann keeps the last one silently).
nlohmann::json parse_json_strictly(const std::string& text, const std::string& path) {
  std::vector<std::set<std::string>> keys;
  const auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) keys.emplace_back();
    if (event == E::object_end && !keys.empty()) keys.pop_back();
    if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
      fail(path, "key \"" + parsed.get<std::string>() + "\" is given twice");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
}

/// A YAML mapping (flat, or sections of mappings) as JSON, typing plain scalars by the schema.
nlohmann::json yaml_to_json(const YAML::Node& node, const std::string& path,
                            const std::string& section) {
  if (!node.IsMap())
    fail(path, section.empty() ? "expected a mapping of key: value"
                               : "section \"" + section + "\" must be a mapping");
  nlohmann::json j = nlohmann::json::object();
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    const auto mark = item.first.Mark();
    const std::string where = path + ":" + std::to_string(mark.line + 1);
    if (j.contains(key)) fail(where, "key \"" + key + "\" is given twice");
    const auto& value = item.second;
    if (section.empty() &&
        (key == "data" || key == "model" || key == "training" || key == "recorded") &&
        value.IsMap()) {
      j[key] = key == "recorded" ? nlohmann::json::object() : yaml_to_json(value, path, key);
      continue;
    }
    const Setting* setting = find_setting(key);
    if (setting == nullptr) fail(where, "unknown key \"" + key + "\"");
    if (value.IsSequence()) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& entry : value) {
        if (!entry.IsScalar()) fail(where, "\"" + key + "\" must be a list of strings");
        list.push_back(entry.Scalar());
      }
      j[key] = list;
    } else if (value.IsScalar()) {
      const bool quoted = value.Tag() == "!";
      if (quoted || setting->default_value.index() == 3) {
        j[key] = value.Scalar();
      } else {
        j[key] = to_json_value(parse_text(*setting, value.Scalar(), where));
      }
    } else {
      fail(where, "\"" + key + "\" must be a single value");
    }
  }
  return j;
}

bool applies(const Setting& s, const std::string& task) {
  return s.tasks.empty() || std::find(s.tasks.begin(), s.tasks.end(), task) != s.tasks.end();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::vector<int64_t> parse_voxels(const std::string& text) {
  std::vector<int64_t> shape;
  if (text.empty()) return shape;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, 'x')) {
    size_t used = 0;
    const long long n = part.empty() ? 0 : std::stoll(part, &used);
    if (used != part.size() || n < 1 || n > 4096) throw std::invalid_argument(text);
    shape.push_back(n);
  }
  if (shape.empty() || shape.size() > 3 || text.back() == 'x') throw std::invalid_argument(text);
  return shape;
}

std::string to_string(Section section) {
  switch (section) {
    case Section::kData:
      return "data";
    case Section::kModel:
      return "model";
    case Section::kTraining:
      return "training";
  }
  return "?";
}

const std::vector<Setting>& run_schema() {
  static const std::vector<Setting> schema = build_schema();
  return schema;
}

const Setting* find_setting(const std::string& key) {
  for (const auto& s : run_schema()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string flag_name(const Setting& setting) {
  if (!setting.flag.empty()) return setting.flag;
  auto name = setting.key;
  std::replace(name.begin(), name.end(), '_', '-');
  return "--" + name;
}

void RunConfig::set(const std::string& key, const Value& value_in, const std::string& source) {
  const Setting* s = find_setting(key);
  if (s == nullptr) fail(source, "unknown key \"" + key + "\"");
  Value value = value_in;
  // An integer is a valid number.
  if (s->default_value.index() == 2 && value.index() == 1)
    value = static_cast<double>(std::get<int64_t>(value));
  if (value.index() != s->default_value.index()) {
    fail(source, "\"" + key + "\" must be " + type_name(s->default_value) + ", got " +
                     type_name(value) + " " + show(value));
  }
  if (value.index() == 1 || value.index() == 2) {
    const double x = value.index() == 1 ? static_cast<double>(std::get<int64_t>(value))
                                        : std::get<double>(value);
    if (!std::isfinite(x) || (s->min && x < *s->min) || (s->max && x > *s->max)) {
      fail(source, "\"" + key + "\" must be in [" + (s->min ? show_number(*s->min) : "-inf") +
                       ", " + (s->max ? show_number(*s->max) : "inf") + "], got " + show(value));
    }
  }
  // config.json records every setting as JSON text, which must be UTF-8: refuse other bytes
  // (e.g. a Latin-1 file name) here rather than fail after training while writing the record.
  std::vector<std::string> texts;
  if (const auto* one = std::get_if<std::string>(&value)) texts.push_back(*one);
  if (const auto* many = std::get_if<std::vector<std::string>>(&value)) texts = *many;
  for (const auto& text : texts) {
    const size_t bad = invalid_utf8_at(text);
    if (bad != std::string::npos) {
      fail(source, "\"" + key + "\" must be UTF-8 text (config.json records it), got \"" +
                       escaped(text) + "\" with a non-UTF-8 byte at offset " + std::to_string(bad) +
                       "; rename the file or folder");
    }
  }
  if (!s->choices.empty()) {
    const auto& text = std::get<std::string>(value);
    if (std::find(s->choices.begin(), s->choices.end(), text) == s->choices.end()) {
      std::string list;
      for (const auto& c : s->choices) list += (list.empty() ? "\"" : ", \"") + c + "\"";
      fail(source, "\"" + key + "\" must be one of " + list + ", got \"" + text + "\"");
    }
  }
  if (key == "voxels" && !std::get<std::string>(value).empty()) {
    try {
      parse_voxels(std::get<std::string>(value));
    } catch (const std::invalid_argument&) {
      fail(source, "\"voxels\" must be cell counts joined by 'x' (e.g. \"14x14\"), got \"" +
                       std::get<std::string>(value) + "\"");
    }
  }
  if (key == "augment" || key == "masks") {  // lists of NAME[:key=value,...], or "none"
    const auto& list = std::get<std::vector<std::string>>(value);
    for (const auto& text : list) {
      if (text == "none") {
        if (list.size() > 1)
          fail(source, "\"" + key + "\": \"none\" cannot be combined with other entries");
        continue;
      }
      try {
        if (key == "masks")
          attention::parse_mask_spec(text);
        else
          datasets::parse_augmentation(text);
      } catch (const c10::Error& e) {
        fail(source, "\"" + key + "\" entry \"" + text + "\": " + e.what_without_backtrace());
      } catch (const std::invalid_argument& e) {
        fail(source, "\"" + key + "\" entry " + std::string(e.what()));
      }
    }
  }
  values_[key] = value;
  given_.insert(key);
  sources_[key] = source;
}

void RunConfig::set_text(const std::string& key, const std::string& text,
                         const std::string& source) {
  const Setting* s = find_setting(key);
  if (s == nullptr) fail(source, "unknown key \"" + key + "\"");
  set(key, parse_text(*s, text, source), source);
}

void RunConfig::read_file(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  nlohmann::json j;
  if (ext == ".yaml" || ext == ".yml") {
    try {
      j = yaml_to_json(YAML::Load(datasets::read_file(path)), path, "");
    } catch (const YAML::Exception& e) {
      fail(path, std::string("not valid YAML: ") + e.what());
    }
  } else {
    j = parse_json_strictly(datasets::read_file(path), path);
  }
  if (!j.is_object()) fail(path, "expected an object of key: value");
  std::set<std::string> seen;
  const auto take = [&](const std::string& key, const nlohmann::json& value,
                        const std::string& section) {
    const Setting* s = find_setting(key);
    if (s == nullptr)
      fail(path, "unknown key \"" + key + "\"" +
                     (section.empty() ? "" : " in section \"" + section + "\""));
    if (!section.empty() && to_string(s->section) != section) {
      fail(path, "\"" + key + "\" belongs to section \"" + to_string(s->section) + "\", not \"" +
                     section + "\"");
    }
    if (!seen.insert(key).second) fail(path, "key \"" + key + "\" is given twice");
    set(key, from_json(*s, value, path), path);
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "recorded") continue;  // what a run found in its data (config.json)
    if ((it.key() == "data" || it.key() == "model" || it.key() == "training") &&
        it.value().is_object()) {
      for (auto inner = it.value().begin(); inner != it.value().end(); ++inner)
        take(inner.key(), inner.value(), it.key());
    } else {
      take(it.key(), it.value(), "");
    }
  }
}

Value RunConfig::get(const std::string& key) const {
  const auto it = values_.find(key);
  if (it != values_.end()) return it->second;
  const Setting* s = find_setting(key);
  if (s == nullptr)
    throw std::logic_error("RunConfig: no setting \"" + key + "\" (topoformer bug)");
  const auto task = key == "task" ? std::string() : text("task");
  if (key != "task" && key != "dataset") {  // defaults that differ by dataset: "task/dataset"
    const auto per_dataset = s->task_defaults.find(task + "/" + text("dataset"));
    if (per_dataset != s->task_defaults.end()) return per_dataset->second;
  }
  const auto per_task = s->task_defaults.find(task);
  return per_task != s->task_defaults.end() ? per_task->second : s->default_value;
}

int64_t RunConfig::integer(const std::string& key) const { return std::get<int64_t>(get(key)); }
double RunConfig::real(const std::string& key) const { return std::get<double>(get(key)); }
bool RunConfig::flag(const std::string& key) const { return std::get<bool>(get(key)); }
std::string RunConfig::text(const std::string& key) const {
  return std::get<std::string>(get(key));
}
std::vector<std::string> RunConfig::texts(const std::string& key) const {
  return std::get<std::vector<std::string>>(get(key));
}

datasets::Transform RunConfig::augmentation() const {
  std::vector<datasets::Transform> transforms;
  for (const auto& text : texts("augment")) {
    if (text != "none") transforms.push_back(datasets::parse_augmentation(text));
  }
  return transforms.empty() ? datasets::Transform() : datasets::compose(std::move(transforms));
}

std::vector<attention::MaskSpec> RunConfig::masks() const {
  std::vector<attention::MaskSpec> specs;
  for (const auto& text : texts("masks")) {
    if (text != "none") specs.push_back(attention::parse_mask_spec(text));
  }
  return specs;
}

std::string RunConfig::no_effect(const std::string& key) const {
  const auto task = text("task");
  if (!applies(*find_setting(key), task)) return "applies to another task";
  if (key == "num_points" && text("dataset") != "modelnet")
    return "applies to --dataset modelnet (meshes) only";
  if ((key == "forces_key" || key == "stress_key") && text("dataset") != "extxyz")
    return "applies to --dataset extxyz only";
  if (task == "molecules" && key == "cutoff") {
    const auto specs = masks();
    const bool radius_free_local_rpe =
        std::any_of(specs.begin(), specs.end(), [](const auto& spec) {
          return spec.name == "local-rpe" && !spec.settings.contains("radius");
        });
    if (!models::needs_graph(specs) && !radius_free_local_rpe && integer("density_channels") == 0) {
      return "has no effect: no graph mask, no local-rpe without its own radius and "
             "density_channels = 0";
    }
  }
  if (key == "features" && (text("feature_map") == "relu" || text("feature_map") == "elu" ||
                            text("feature_map") == "softmax-exact")) {
    return "has no effect with the deterministic feature map " + text("feature_map") +
           " (random feature maps: softmax, softmax-hyperbolic, relu-random)";
  }
  if (key == "dist_timeout" && integer("nproc") == 1)
    return "has no effect with nproc = 1 (a single process)";
  if (task == "pointcloud" && (key == "knn" || key == "downsample_ratio")) {
    const bool stages = integer("stages") > 1;
    if (key == "downsample_ratio" && !stages) return "has no effect with stages = 1";
    if (key == "knn" && !models::needs_graph(masks()) && !stages) {
      return "has no effect without a graph mask (--mask adjacency, ...) or stages > 1";
    }
  }
  return "";
}

void RunConfig::validate() const {
  const auto task = text("task");
  for (const auto& key : given_) {
    const Setting& s = *find_setting(key);
    if (!applies(s, task)) {
      fail(sources_.at(key),
           "\"" + key + "\" applies to --task " + joined(s.tasks) + ", not " + task);
    }
  }
  const auto source = [&](const std::string& key) {
    const auto it = sources_.find(key);
    return it != sources_.end() ? it->second : std::string("the defaults");
  };
  const auto dataset = text("dataset");
  const std::map<std::string, std::vector<std::string>> datasets{
      {"pointcloud", {"mnist", "modelnet"}},
      {"molecules", {"extxyz", "qm9", "sdf"}},
      {"graph", {"tu"}}};
  const auto& allowed = datasets.at(task);
  if (std::find(allowed.begin(), allowed.end(), dataset) == allowed.end()) {
    fail(source("dataset"),
         "\"dataset\" \"" + dataset + "\" is not a " + task + " dataset (" + joined(allowed) + ")");
  }
  for (const auto& key : given_) {
    const auto reason = no_effect(key);
    if (!reason.empty()) fail(source(key), "\"" + key + "\" " + reason);
  }
  if (text("data").empty() && dataset != "mnist")
    fail("--data", "required for --dataset " + dataset);
  if (integer("embed_dim") % integer("heads") != 0) {
    fail(source(given("heads") ? "heads" : "embed_dim"),
         "\"heads\" (" + std::to_string(integer("heads")) + ") must divide \"embed_dim\" (" +
             std::to_string(integer("embed_dim")) + ")");
  }
  if (task == "pointcloud") {
    if (!text("voxels").empty() && integer("stages") > 1) {
      fail(source("voxels"), "\"voxels\" (voxel tokens) cannot be combined with stages > 1");
    }
    if (integer("stages") > integer("layers")) {
      fail(source("stages"), "\"stages\" (" + std::to_string(integer("stages")) +
                                 ") must be at most \"layers\" (" +
                                 std::to_string(integer("layers")) + ")");
    }
  }
}

nlohmann::json RunConfig::to_json() const {
  nlohmann::json j = {{"data", nlohmann::json::object()},
                      {"model", nlohmann::json::object()},
                      {"training", nlohmann::json::object()}};
  const auto task = text("task");
  for (const auto& s : run_schema()) {
    if (!s.recorded || !no_effect(s.key).empty()) continue;
    j[to_string(s.section)][s.key] = to_json_value(get(s.key));
  }
  return j;
}

}  // namespace topo::app
