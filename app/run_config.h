// SPDX-License-Identifier: Apache-2.0
/// \file
/// One run configuration for the `topoformer` command, defined once: a typed schema of every
/// setting (section, type, default — per task where tasks differ —, range or choices, the tasks
/// it applies to, help). Flags, JSON and YAML files are read through the same checks (exact
/// types, ranges, choices, unknown and duplicate keys, settings of another task, settings that
/// would have no effect), each error naming the file or flag and the key; the resolved run is
/// written back as config.json, from which `eval` and `predict` rebuild the model.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "attention/masks/registry.h"
#include "datasets/transforms.h"

namespace topo::app {

using Value = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

enum class Section { kData, kModel, kTraining };
std::string to_string(Section section);

struct Setting {
  std::string key;  ///< config key (snake_case); the flag is --key-with-dashes unless `flag` is set
  Section section;
  Value default_value;
  std::string help;
  std::optional<double> min = std::nullopt, max = std::nullopt;
  std::vector<std::string> choices = {};
  /// The tasks it applies to (empty: every task).
  std::vector<std::string> tasks = {};
  /// Defaults that differ by task ("pointcloud") or by task and dataset ("pointcloud/mnist").
  std::map<std::string, Value> task_defaults = {};
  /// Written to config.json (false for where the run lives and how it is shown).
  bool recorded = true;
  std::string flag = "";
  /// Another command-line name for the same setting (config files use `key` only).
  std::string alias = "";
};

/// Every setting, in the order of the help text.
const std::vector<Setting>& run_schema();
/// The schema entry of `key`, or null.
const Setting* find_setting(const std::string& key);
/// "14x14" → {14, 14} (1 to 3 positive cell counts); "" → {}. Throws std::invalid_argument.
std::vector<int64_t> parse_voxels(const std::string& text);
/// "--batch-size" for "batch_size" (or the setting's own flag).
std::string flag_name(const Setting& setting);

/// A run's settings: what was given (checked), and the schema's defaults for the rest.
class RunConfig {
 public:
  /// Sets `key` from a typed value; `source` names where it came from ("run.yaml", "--epochs").
  /// Throws naming source and key on a wrong type, a value out of range or not among the
  /// choices.
  void set(const std::string& key, const Value& value, const std::string& source);
  /// Sets `key` from text as written on a command line or as a plain YAML scalar.
  void set_text(const std::string& key, const std::string& text, const std::string& source);
  /// Reads a JSON or YAML (.yaml/.yml) file: flat keys or "data"/"model"/"training" sections (a
  /// "recorded" object of a written config.json is ignored). Unknown keys, keys given twice and
  /// keys in the wrong section are errors.
  void read_file(const std::string& path);

  bool given(const std::string& key) const { return given_.count(key) > 0; }
  /// The value (given, else the task's default, else the schema's default).
  Value get(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool flag(const std::string& key) const;
  std::string text(const std::string& key) const;
  std::vector<std::string> texts(const std::string& key) const;
  /// The "augment" setting as one transform (undefined for "none").
  datasets::Transform augmentation() const;
  /// The "masks" setting parsed (an empty list for "none").
  std::vector<attention::MaskSpec> masks() const;

  /// Checks what single keys cannot: keys of another task, the dataset against the task, and
  /// settings that would change nothing (e.g. --knn without a graph mask or stages). Throws.
  void validate() const;
  /// The run as config.json: every recorded setting of the task (defaults included), by section.
  nlohmann::json to_json() const;
  /// Given keys, for error messages and tests.
  const std::set<std::string>& given_keys() const { return given_; }

 private:
  /// Why `key` changes nothing in this run ("" when it does).
  std::string no_effect(const std::string& key) const;

  std::map<std::string, Value> values_;
  std::set<std::string> given_;
  std::map<std::string, std::string> sources_;
};

}  // namespace topo::app
