// SPDX-License-Identifier: Apache-2.0
// Debian bookworm's liblammps-dev (LAMMPS 20220106) installs headers that include
// "fmt/format.h", the {fmt} 7 LAMMPS bundles (namespace fmt::v7_lmp), without shipping it; the
// system's {fmt} 9 (libfmt-dev) lacks fmt::make_args_checked, so those headers do not compile.
// This header declares just enough of the bundled {fmt} for them to parse. pair_topoformer.cpp
// calls only the std::string overloads of Error and utils (no {fmt} type crosses into
// liblammps), so nothing declared here is ever called or defined.
#pragma once

namespace fmt {
inline namespace v7_lmp {
template <typename Char>
class basic_string_view;
using string_view = basic_string_view<char>;
struct format_args;
template <typename... Args, typename S>
format_args make_args_checked(const S& format, const Args&... args);
}  // namespace v7_lmp
}  // namespace fmt
