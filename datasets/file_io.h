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

/// Throws a ParseError naming `path` unless it is a regular file (or a link to one): a
/// directory or a missing file is named as such, never read as 0 bytes.
void require_regular_file(const std::string& path);

/// The bytes of `path`; `.gz` files are decompressed (every member of a multi-member file, as
/// `gzip -dc` does).
std::string read_file(const std::string& path);

/// Calls visit(member name, bytes) for every regular file of a tar archive (any compression
/// libarchive understands) in archive order.
void for_each_tar_member(const std::string& path,
                         const std::function<void(const std::string&, const std::string&)>& visit);

/// Names and bytes of every member of a zip archive (e.g. the .npy arrays of an .npz).
std::vector<std::pair<std::string, std::string>> read_zip_members(const std::string& path);

/// Reads every member of a zip archive to its end so that libzip checks each CRC-32; throws a
/// ParseError naming the archive and the damaged member. LibTorch checkpoints are zip archives
/// whose loader does not check the CRCs (a flipped bit in a weight loads silently).
void verify_zip_archive(const std::string& path);

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename), so a
/// crash never leaves a truncated file. A failed write (disk full) removes the temporary file and
/// leaves any previous `path` unchanged.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace topo::datasets
