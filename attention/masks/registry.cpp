// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/registry.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "attention/masks/adjacency_mask.h"
#include "attention/masks/block_toeplitz_mask.h"
#include "attention/masks/causal_mask.h"
#include "attention/masks/diffusion_mask.h"
#include "attention/masks/flt_mask.h"
#include "attention/masks/graph_random_feature_mask.h"
#include "attention/masks/local_rpe_mask.h"
#include "attention/masks/random_walk_kernel_mask.h"
#include "attention/masks/spanning_tree_mask.h"
#include "attention/masks/toeplitz_mask.h"
#include "attention/masks/token_layout.h"
#include "attention/masks/tree_function_mask.h"
#include "common/check.h"

namespace topo::attention {
namespace {

const char* type_name(const MaskSettingValue& value) {
  switch (value.index()) {
    case 0:
      return "a boolean";
    case 1:
      return "an integer";
    case 2:
      return "a number";
    default:
      return "a string";
  }
}

std::vector<int64_t> parse_grid_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, 'x')) {
    size_t used = 0;
    int64_t n = 0;
    try {
      n = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TOPO_CHECK_ARG(used == part.size() && !part.empty() && n > 0, "make_mask(\"block-toeplitz\")",
                   "grid_shape", "1 to 3 positive sizes joined by 'x' (e.g. \"16x16\")",
                   "\"" + text + "\"");
    shape.push_back(n);
  }
  TOPO_CHECK_ARG(!shape.empty() && shape.size() <= 3 && text.back() != 'x',
                 "make_mask(\"block-toeplitz\")", "grid_shape",
                 "1 to 3 positive sizes joined by 'x' (e.g. \"16x16\")", "\"" + text + "\"");
  return shape;
}

const std::vector<std::string> kSemantics = {"multiplicative", "logit-additive"};
const std::vector<std::string> kNormalizations = {"symmetric", "random-walk", "none"};

MaskSettingInfo normalization_setting() {
  return {"normalization",
          std::string("symmetric"),
          "W: D^-1/2 A D^-1/2 (symmetric), D^-1 A (random-walk) or A (none)",
          {},
          {},
          kNormalizations};
}

MaskSettingInfo algorithm_setting() {
  return {"algorithm",
          std::string("auto"),
          "series: sparse products of W (Alg. 1); dense: exact attention per graph from W's "
          "eigenvectors (undirected graphs); auto: the cheaper by a cost model, per batch",
          {},
          {},
          {"auto", "series", "dense"}};
}

std::vector<MaskInfo> build_registry() {
  std::vector<MaskInfo> r;
  r.push_back({"causal",
               "M_ij = [j <= i]: causal attention by the chunked prefix-sum scan",
               MaskInput::kSequence,
               {{"chunk_size", int64_t{128}, "tokens per chunk of the causal scan", 1.0, {}, {}}},
               [](int64_t, const MaskSettings& s) {
                 return CausalMask(CausalMaskOptions().chunk_size(s.integer("chunk_size"))).ptr();
               }});
  r.push_back(
      {"toeplitz",
       "M_ij = f_h(i - j), a learned 1-D relative position table, by FFT",
       MaskInput::kSequence,
       {{"max_length", int64_t{1024}, "longest sequence (table size 2*max_length-1)", 1.0, {}, {}},
        {"causal", false, "zero every future offset", {}, {}, {}},
        {"semantics",
         std::string("logit-additive"),
         "multiplicative: M = table; logit-additive: M = exp(table)",
         {},
         {},
         kSemantics}},
       [](int64_t heads, const MaskSettings& s) {
         return ToeplitzMask(ToeplitzMaskOptions(heads, s.integer("max_length"))
                                 .causal(s.flag("causal"))
                                 .semantics(mask_semantics_from_string(s.text("semantics"))))
             .ptr();
       }});
  r.push_back(
      {"block-toeplitz",
       "M_ij = f_h(r_i - r_j) over a 1-3-D grid of tokens (row-major), by d-dimensional FFT",
       MaskInput::kGrid,
       {{"grid_shape",
         std::string(""),
         "grid sizes joined by 'x', e.g. 16x16 (required)",
         {},
         {},
         {}},
        {"cls_token", false, "a first token that attends to and is attended by all", {}, {}, {}},
        {"semantics",
         std::string("multiplicative"),
         "multiplicative: M = table; logit-additive: M = exp(table)",
         {},
         {},
         kSemantics}},
       [](int64_t heads, const MaskSettings& s) {
         return BlockToeplitzMask(
                    BlockToeplitzMaskOptions(heads, parse_grid_shape(s.text("grid_shape")))
                        .cls_token(s.flag("cls_token"))
                        .semantics(mask_semantics_from_string(s.text("semantics"))))
             .ptr();
       }});
  r.push_back(
      {"flt",
       "FLT spectral RPE f_h(r_i - r_j) learned through its spectral density (low rank)",
       MaskInput::kPositions,
       {{"dim", int64_t{3}, "dimension of the positions (models set it)", 1.0, {}, {}},
        {"features", int64_t{16}, "random frequencies R (rank 2R)", 1.0, {}, {}},
        {"family",
         std::string("gaussian-mixture"),
         "spectral family",
         {},
         {},
         {"gaussian-mixture", "gaussian", "matern", "cauchy", "local-box"}},
        {"length_scale", 0.5, "initial length scale, in the units of the positions", 1e-12, {}, {}},
        {"semantics",
         std::string("logit-additive"),
         "multiplicative mask, or logit bias (logit-additive: softmax feature maps only)",
         {},
         {},
         kSemantics}},
       [](int64_t heads, const MaskSettings& s) {
         return FLTMask(FLTMaskOptions(heads, s.integer("dim"))
                            .num_features(s.integer("features"))
                            .family(spectral_family_from_string(s.text("family")))
                            .length_scale(s.real("length_scale"))
                            .semantics(mask_semantics_from_string(s.text("semantics"))))
             .ptr();
       }});
  r.push_back({"local-rpe",
               "exact f_h(|r_i - r_j|) inside a radius (sparse), learned profile (C1 cubic through "
               "its knots)",
               MaskInput::kPositions,
               {{"radius", 5.0, "neighbourhood radius", 1e-12, {}, {}},
                {"bins", int64_t{16}, "profile knots - 1", 1.0, {}, {}},
                {"max_neighbours",
                 int64_t{-1},
                 "nearest neighbours kept per token (-1: all)",
                 -1.0,
                 {},
                 {}},
                {"smooth_cutoff",
                 true,
                 "cosine envelope to zero at the radius (smooth forces)",
                 {},
                 {},
                 {}}},
               [](int64_t heads, const MaskSettings& s) {
                 return LocalRPEMask(geometry::LocalRPEOptions(heads, s.real("radius"))
                                         .num_bins(s.integer("bins"))
                                         .max_neighbours(s.integer("max_neighbours"))
                                         .smooth_cutoff(s.flag("smooth_cutoff")))
                     .ptr();
               }});
  r.push_back({"adjacency",
               "M = A + I: exact sparse attention along the graph's edges",
               MaskInput::kGraph,
               {},
               [](int64_t, const MaskSettings&) { return AdjacencyMask().ptr(); }});
  r.push_back({"diffusion",
               "M = exp(t_h W): Markov-process (heat) kernel, learned time per head",
               MaskInput::kGraph,
               {{"time", 1.0, "initial diffusion time", 0.0, {}, {}},
                {"tolerance", 1e-6, "relative truncation error of the series", 1e-15, 0.5, {}},
                normalization_setting(),
                algorithm_setting()},
               [](int64_t heads, const MaskSettings& s) {
                 return DiffusionMask(
                            DiffusionMaskOptions(heads)
                                .time(s.real("time"))
                                .tolerance(s.real("tolerance"))
                                .normalization(normalization_from_string(s.text("normalization")))
                                .algorithm(graph_mask_algorithm_from_string(s.text("algorithm"))))
                     .ptr();
               }});
  r.push_back({"random-walk",
               "M = sum_k alpha_hk W^k: p-step random-walk kernel, learned alpha",
               MaskInput::kGraph,
               {{"steps", int64_t{4}, "p, the highest power of W", 0.0, {}, {}},
                normalization_setting(),
                algorithm_setting()},
               [](int64_t heads, const MaskSettings& s) {
                 return RandomWalkKernelMask(
                            RandomWalkKernelMaskOptions(heads, s.integer("steps"))
                                .normalization(normalization_from_string(s.text("normalization")))
                                .algorithm(graph_mask_algorithm_from_string(s.text("algorithm"))))
                     .ptr();
               }});
  r.push_back(
      {"grf",
       "graph random features: unbiased O(N) estimate of sum_k (f*f)_k W^k, learned f",
       MaskInput::kGraph,
       {{"max_length", int64_t{4}, "walk length cap K", 0.0, {}, {}},
        {"walks_per_node", int64_t{8}, "random walks per node and side", 1.0, {}, {}},
        {"halt_probability", 0.5, "probability of stopping before each step", 0.0, 0.99, {}},
        {"antithetic", false, "antithetic termination (less variance)", {}, {}, {}},
        normalization_setting()},
       [](int64_t heads, const MaskSettings& s) {
         return GraphRandomFeatureMask(
                    GraphRandomFeatureMaskOptions(heads)
                        .max_length(s.integer("max_length"))
                        .walks_per_node(s.integer("walks_per_node"))
                        .halt_probability(s.real("halt_probability"))
                        .antithetic(s.flag("antithetic"))
                        .normalization(normalization_from_string(s.text("normalization"))))
             .ptr();
       }});
  r.push_back(
      {"spanning-tree",
       "mean of exp(lambda_h dist_T) over spanning trees T (exact tree products)",
       MaskInput::kGraph,
       {{"trees", int64_t{2}, "random spanning trees averaged", 1.0, {}, {}},
        {"kind",
         std::string("random"),
         "uniform random trees or the one minimum spanning tree",
         {},
         {},
         {"random", "minimum"}},
        {"lambda", -1.0, "initial decay rate (negative: decays with distance)", {}, {}, {}}},
       [](int64_t heads, const MaskSettings& s) {
         return SpanningTreeMask(SpanningTreeMaskOptions(heads)
                                     .num_trees(s.integer("trees"))
                                     .kind(spanning_tree_kind_from_string(s.text("kind")))
                                     .lambda(s.real("lambda")))
             .ptr();
       },
       [](const MaskSettings& given, const MaskSettings& resolved) {
         return given.contains("trees") && resolved.text("kind") == "minimum"
                    ? std::string("`trees` has no effect with kind = minimum (one tree)")
                    : std::string();
       }});
  r.push_back(
      {"tree-function",
       "M_ij = f_h(hop distance along a spanning tree), any learned table (centroid FFT)",
       MaskInput::kGraph,
       {{"max_distance", int64_t{8}, "largest tree distance with a table entry", 0.0, {}, {}},
        {"semantics",
         std::string("logit-additive"),
         "multiplicative: M = table; logit-additive: M = exp(table)",
         {},
         {},
         kSemantics}},
       [](int64_t heads, const MaskSettings& s) {
         return TreeFunctionMask(TreeFunctionMaskOptions(heads, s.integer("max_distance"))
                                     .semantics(mask_semantics_from_string(s.text("semantics"))))
             .ptr();
       }});
  return r;
}

}  // namespace

std::string to_string(const MaskSettingValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream out;
          out.precision(std::numeric_limits<double>::max_digits10);
          out << v;
          return out.str();
        } else {
          return std::to_string(v);
        }
      },
      value);
}

std::string to_string(MaskInput input) {
  switch (input) {
    case MaskInput::kSequence:
      return "sequence";
    case MaskInput::kGrid:
      return "grid";
    case MaskInput::kPositions:
      return "positions";
    case MaskInput::kGraph:
      return "graph";
  }
  return "?";
}

MaskSettings& MaskSettings::set(const std::string& name, MaskSettingValue value) {
  values_[name] = std::move(value);
  return *this;
}

namespace {
template <typename T>
const T& typed(const std::map<std::string, MaskSettingValue>& values, const std::string& name,
               const char* type) {
  const auto it = values.find(name);
  TORCH_CHECK_VALUE(it != values.end(), "MaskSettings: no setting \"", name, "\"");
  const auto* value = std::get_if<T>(&it->second);
  TORCH_CHECK_VALUE(value != nullptr, "MaskSettings: setting \"", name, "\" must be ", type,
                    ", got ", type_name(it->second));
  return *value;
}
}  // namespace

int64_t MaskSettings::integer(const std::string& name) const {
  return typed<int64_t>(values_, name, "an integer");
}
bool MaskSettings::flag(const std::string& name) const {
  return typed<bool>(values_, name, "a boolean");
}
const std::string& MaskSettings::text(const std::string& name) const {
  return typed<std::string>(values_, name, "a string");
}
double MaskSettings::real(const std::string& name) const {
  const auto it = values_.find(name);
  if (it != values_.end() && std::holds_alternative<int64_t>(it->second)) {
    return static_cast<double>(std::get<int64_t>(it->second));
  }
  return typed<double>(values_, name, "a number");
}

const std::vector<MaskInfo>& mask_registry() {
  static const std::vector<MaskInfo> registry = build_registry();
  return registry;
}

std::vector<std::string> mask_names() {
  std::vector<std::string> names;
  for (const auto& info : mask_registry()) names.push_back(info.name);
  return names;
}

const MaskInfo& mask_info(const std::string& name) {
  std::string list;
  for (const auto& info : mask_registry()) {
    if (info.name == name) return info;
    list += (list.empty() ? "\"" : ", \"") + info.name + "\"";
  }
  TOPO_CHECK_ARG(false, "make_mask", "name", "one of " + list, "\"" + name + "\"");
  throw std::logic_error("unreachable");
}

MaskSettings resolve_mask_settings(const std::string& name, const MaskSettings& given) {
  const auto& info = mask_info(name);
  const std::string fn = "make_mask(\"" + name + "\")";
  MaskSettings resolved;
  for (const auto& [key, value] : given.values()) {
    const MaskSettingInfo* setting = nullptr;
    std::string known;
    for (const auto& s : info.settings) {
      if (s.name == key) setting = &s;
      known += (known.empty() ? "" : ", ") + s.name;
    }
    TOPO_CHECK_ARG(
        setting != nullptr, fn, "settings",
        known.empty() ? "empty (this mask has no settings)" : "among its settings (" + known + ")",
        "an unknown setting \"" + key + "\"");
    const bool number_for_real = std::holds_alternative<double>(setting->default_value) &&
                                 std::holds_alternative<int64_t>(value);
    TOPO_CHECK_ARG(value.index() == setting->default_value.index() || number_for_real, fn, key,
                   type_name(setting->default_value),
                   c10::str(type_name(value), " (", to_string(value), ")"));
    if (std::holds_alternative<int64_t>(value) || std::holds_alternative<double>(value)) {
      const double x = std::holds_alternative<int64_t>(value)
                           ? static_cast<double>(std::get<int64_t>(value))
                           : std::get<double>(value);
      TOPO_CHECK_ARG(std::isfinite(x), fn, key, "finite", to_string(value));
      if (setting->min)
        TOPO_CHECK_ARG(x >= *setting->min, fn, key, c10::str(">= ", *setting->min),
                       to_string(value));
      if (setting->max)
        TOPO_CHECK_ARG(x <= *setting->max, fn, key, c10::str("<= ", *setting->max),
                       to_string(value));
    }
    if (!setting->choices.empty()) {
      const auto& text = std::get<std::string>(value);
      std::string list;
      bool found = false;
      for (const auto& choice : setting->choices) {
        found = found || choice == text;
        list += (list.empty() ? "\"" : ", \"") + choice + "\"";
      }
      TOPO_CHECK_ARG(found, fn, key, "one of " + list, "\"" + text + "\"");
    }
    resolved.set(key, number_for_real
                          ? MaskSettingValue(static_cast<double>(std::get<int64_t>(value)))
                          : value);
  }
  for (const auto& s : info.settings) {
    if (!resolved.contains(s.name)) resolved.set(s.name, s.default_value);
  }
  if (info.no_effect) {
    const auto reason = info.no_effect(given, resolved);
    TOPO_CHECK_ARG(reason.empty(), fn, "settings", "settings that each change the mask", reason);
  }
  return resolved;
}

std::shared_ptr<MaskImpl> make_mask(const std::string& name, int64_t num_heads,
                                    const MaskSettings& settings) {
  TOPO_CHECK_ARG(num_heads >= 1, "make_mask", "num_heads", ">= 1", num_heads);
  const auto resolved = resolve_mask_settings(name, settings);
  return mask_info(name).make(num_heads, resolved);
}

MaskSpec parse_mask_spec(const std::string& text) {
  const auto colon = text.find(':');
  MaskSpec spec{text.substr(0, colon), {}};
  const auto& info = mask_info(spec.name);
  if (colon == std::string::npos) return spec;
  std::stringstream stream(text.substr(colon + 1));
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto eq = item.find('=');
    TOPO_CHECK_ARG(eq != std::string::npos && eq > 0, "parse_mask_spec", "text",
                   "name:key=value,key=value (e.g. \"diffusion:time=0.5\")", "\"" + text + "\"");
    const auto key = item.substr(0, eq), raw = item.substr(eq + 1);
    const MaskSettingInfo* setting = nullptr;
    for (const auto& s : info.settings) setting = s.name == key ? &s : setting;
    if (setting == nullptr) {
      spec.settings.set(key, raw);  // resolve_mask_settings names the unknown setting
      continue;
    }
    const auto fail = [&] {
      TOPO_CHECK_ARG(false, "parse_mask_spec", spec.name + " setting " + key,
                     type_name(setting->default_value), "\"" + raw + "\"");
    };
    switch (setting->default_value.index()) {
      case 0:
        if (raw != "true" && raw != "false") fail();
        spec.settings.set(key, raw == "true");
        break;
      case 1: {
        size_t used = 0;
        int64_t v = 0;
        try {
          v = std::stoll(raw, &used);
        } catch (const std::exception&) {
          fail();
        }
        if (used != raw.size()) fail();
        spec.settings.set(key, v);
        break;
      }
      case 2: {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(raw, &used);
        } catch (const std::exception&) {
          fail();
        }
        if (used != raw.size()) fail();
        spec.settings.set(key, v);
        break;
      }
      default:
        spec.settings.set(key, raw);
    }
  }
  resolve_mask_settings(spec.name, spec.settings);  // report bad values now
  return spec;
}

std::string to_string(const MaskSpec& spec) {
  std::string text = spec.name;
  char separator = ':';
  for (const auto& [key, value] : spec.settings.values()) {
    text += separator + key + "=" + to_string(value);
    separator = ',';
  }
  return text;
}

std::string describe_masks() {
  std::ostringstream out;
  for (const auto& info : mask_registry()) {
    out << info.name << " (" << to_string(info.input) << "): " << info.description << "\n";
    for (const auto& s : info.settings) {
      out << "    " << s.name << " = " << to_string(s.default_value);
      if (s.min || s.max) {
        out << "  [" << (s.min ? c10::str(*s.min) : std::string("-inf")) << ", "
            << (s.max ? c10::str(*s.max) : std::string("inf")) << "]";
      }
      if (!s.choices.empty()) {
        out << "  {";
        for (size_t i = 0; i < s.choices.size(); ++i) out << (i ? ", " : "") << s.choices[i];
        out << "}";
      }
      out << "  " << s.help << "\n";
    }
  }
  return out.str();
}

}  // namespace topo::attention
