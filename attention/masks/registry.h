// SPDX-License-Identifier: Apache-2.0
/// \file
/// Masks by name: one explicit list (no static-initialisation tricks) of every mask a model, the
/// command line or a config file can ask for, each with its settings, their defaults and their
/// valid ranges in one place (the factory-map pattern of tiny-cuda-nn's encodings). The command
/// line's choices and help, config validation, `topoformer masks` and the all-masks test suite
/// are all generated from it.
///
/// Adding a mask: its file stem (module + operator), one entry in registry.cpp, its CMake lines
/// and a README row.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "attention/masks/mask.h"

namespace topo::attention {

/// A setting's value: its type is the type of the setting's default.
using MaskSettingValue = std::variant<bool, int64_t, double, std::string>;

/// "true", "12", "0.5", "\"text\"": the value as a user would write it.
std::string to_string(const MaskSettingValue& value);

/// Settings by name. Given settings are checked against the mask's list by `make_mask`
/// (unknown names, wrong types and out-of-range values are errors); missing ones take the
/// defaults.
class MaskSettings {
 public:
  MaskSettings() = default;
  MaskSettings(std::initializer_list<std::pair<const std::string, MaskSettingValue>> values)
      : values_(values) {}

  MaskSettings& set(const std::string& name, MaskSettingValue value);
  bool contains(const std::string& name) const { return values_.count(name) > 0; }
  /// Typed reads of a resolved setting (throws naming the setting if absent or of another type).
  int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  bool flag(const std::string& name) const;
  const std::string& text(const std::string& name) const;

  const std::map<std::string, MaskSettingValue>& values() const { return values_; }
  bool operator==(const MaskSettings& other) const { return values_ == other.values_; }

 private:
  std::map<std::string, MaskSettingValue> values_;
};

/// What the tokens must carry for a mask to be built over them.
enum class MaskInput {
  kSequence,   ///< an ordered sequence (causal, Toeplitz)
  kGrid,       ///< a regular grid in row-major order (block-Toeplitz)
  kPositions,  ///< token positions `pos` (FLT, local RPE)
  kGraph,      ///< a graph over the tokens (graph and tree masks)
};
std::string to_string(MaskInput input);

struct MaskSettingInfo {
  std::string name;
  MaskSettingValue default_value;
  std::string help;
  /// Inclusive bounds of numeric settings.
  std::optional<double> min, max;
  /// The accepted values of text settings (empty: any).
  std::vector<std::string> choices;
};

struct MaskInfo {
  std::string name;
  std::string description;
  MaskInput input;
  std::vector<MaskSettingInfo> settings;
  /// Builds the module from resolved settings (every setting present, checked).
  std::function<std::shared_ptr<MaskImpl>(int64_t num_heads, const MaskSettings& settings)> make;
  /// Rejects given settings that would change nothing under the others (may be empty): returns
  /// the reason, or "".
  std::function<std::string(const MaskSettings& given, const MaskSettings& resolved)> no_effect =
      {};
};

/// Every registered mask, in a fixed order.
const std::vector<MaskInfo>& mask_registry();
/// Their names.
std::vector<std::string> mask_names();
/// The entry of `name`; throws listing the registered names.
const MaskInfo& mask_info(const std::string& name);

/// `given` checked against `name`'s settings (unknown names, wrong types, values out of range
/// or not among the choices are errors naming the mask and the setting), with the defaults of
/// the settings not given. An int64 value is accepted for a real-valued setting.
MaskSettings resolve_mask_settings(const std::string& name, const MaskSettings& given);

/// A mask module by name, e.g. make_mask("diffusion", 4, {{"time", 0.5}}).
std::shared_ptr<MaskImpl> make_mask(const std::string& name, int64_t num_heads,
                                    const MaskSettings& settings = {});

/// A mask and its settings, as models and run configurations name them.
struct MaskSpec {
  std::string name;
  MaskSettings settings;
  bool operator==(const MaskSpec& other) const {
    return name == other.name && settings == other.settings;
  }
};

/// "name" or "name:key=value,key=value" (the command line's form) → MaskSpec, with each value
/// parsed as the type of the setting's default. Throws naming the text and the setting.
MaskSpec parse_mask_spec(const std::string& text);
/// The inverse of parse_mask_spec.
std::string to_string(const MaskSpec& spec);

/// A human-readable table of every mask, its input and its settings (`topoformer masks`).
std::string describe_masks();

}  // namespace topo::attention
