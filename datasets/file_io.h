// SPDX-License-Identifier: Apache-2.0
/// \file
/// Reading whole files for the parsers: plain, gzip (.gz, zlib), members of tar archives
/// (libarchive: .tar, .tar.gz, .tar.bz2, .tar.xz) and of zip archives (.npz, libzip).
/// Missing or unreadable files throw an error naming the path.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace topo::datasets {

/// The bytes of `path`; `.gz` files are decompressed.
std::string read_file(const std::string& path);

/// Calls visit(member name, bytes) for every regular file of a tar archive (any compression
/// libarchive understands) in archive order.
void for_each_tar_member(const std::string& path,
                         const std::function<void(const std::string&, const std::string&)>& visit);

/// Names and bytes of every member of a zip archive (e.g. the .npy arrays of an .npz).
std::vector<std::pair<std::string, std::string>> read_zip_members(const std::string& path);

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename), so a
/// crash never leaves a truncated file.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace topo::datasets
