// SPDX-License-Identifier: Apache-2.0
#include "datasets/file_io.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string gunzip(const std::string& compressed, const std::string& path) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 32) != Z_OK)
    throw ParseError(path, "zlib could not start decompression");
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&stream, inflateEnd);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[1 << 16];
  int64_t member = 1;
  // A gzip file may hold several members back to back (RFC 1952 2.2; `cat a.gz b.gz`, bgzip):
  // like `gzip -dc`, decompress them all into one stream.
  while (true) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    const int status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      throw ParseError(path, "expected valid gzip data in member " + std::to_string(member) +
                                 ", got a corrupt stream (" +
                                 (stream.msg ? stream.msg : "zlib error") + ")");
    }
    out.append(buffer, sizeof(buffer) - stream.avail_out);
    if (status == Z_STREAM_END) {
      // Like `gzip -dc`: zero padding after the last member is ignored; anything else must be
      // another gzip member (magic 1f 8b).
      const auto* rest = stream.next_in;
      const size_t left = stream.avail_in;
      if (std::all_of(rest, rest + left, [](Bytef b) { return b == 0; })) break;
      if (left < 2 || rest[0] != 0x1f || rest[1] != 0x8b) {
        throw ParseError(path, "expected another gzip member or the end of the file after member " +
                                   std::to_string(member) + ", got " + std::to_string(left) +
                                   " bytes of other data");
      }
      ++member;
      if (inflateReset(&stream) != Z_OK) throw ParseError(path, "zlib could not restart");
    } else if (stream.avail_in == 0 && stream.avail_out != 0) {
      throw ParseError(path, "expected the end of gzip member " + std::to_string(member) +
                                 ", got the end of the file (truncated)");
    }
  }
  return out;
}

}  // namespace

void require_regular_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw ParseError(path, "no such file");
  if (status.type() == std::filesystem::file_type::directory)
    throw ParseError(path, "expected a file, got a directory");
}

std::string read_file(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ParseError(path, std::string("cannot open the file: ") + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw ParseError(path, "a read error occurred");
  std::string bytes = buffer.str();
  if (ends_with(path, ".gz")) return gunzip(bytes, path);
  return bytes;
}

void for_each_tar_member(const std::string& path,
                         const std::function<void(const std::string&, const std::string&)>& visit) {
  require_regular_file(path);
  std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                archive_read_free);
  archive_read_support_filter_all(reader.get());
  archive_read_support_format_tar(reader.get());
  archive_read_support_format_gnutar(reader.get());
  if (archive_read_open_filename(reader.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    throw ParseError(path,
                     std::string("cannot open the archive: ") + archive_error_string(reader.get()));
  }
  archive_entry* entry = nullptr;
  int status;
  while ((status = archive_read_next_header(reader.get(), &entry)) == ARCHIVE_OK) {
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const std::string name = archive_entry_pathname(entry);
    std::string bytes;
    char buffer[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(reader.get(), buffer, sizeof(buffer))) > 0)
      bytes.append(buffer, static_cast<size_t>(n));
    if (n < 0)
      throw ParseError(path + ":" + name, std::string("truncated archive member: ") +
                                              archive_error_string(reader.get()));
    visit(name, bytes);
  }
  if (status != ARCHIVE_EOF)
    throw ParseError(
        path, std::string("corrupt or truncated archive: ") + archive_error_string(reader.get()));
}

namespace {

/// Opens a zip archive (errors name the path); zip_discard closes it.
std::unique_ptr<zip_t, decltype(&zip_discard)> open_zip(const std::string& path) {
  require_regular_file(path);
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (archive == nullptr) {
    zip_error_t z;
    zip_error_init_with_code(&z, error);
    const std::string message = zip_error_strerror(&z);
    zip_error_fini(&z);
    throw ParseError(path, "cannot open the zip archive: " + message);
  }
  return {archive, zip_discard};
}

/// Reads member `index` to its end in chunks, passing each to `sink`. libzip checks the CRC-32
/// when a member is read to its end, so a flipped bit is an error naming the member. The
/// member's declared size is never allocated up front (a crafted header could declare 2^64).
void read_zip_member(zip_t* archive, zip_uint64_t index, const std::string& path,
                     const std::function<void(const char*, size_t)>& sink) {
  zip_stat_t stat;
  if (zip_stat_index(archive, index, 0, &stat) != 0)
    throw ParseError(path, "unreadable zip entry " + std::to_string(index));
  const std::string where = path + ":" + stat.name;
  std::unique_ptr<zip_file_t, decltype(&zip_fclose)> file(zip_fopen_index(archive, index, 0),
                                                          zip_fclose);
  if (!file)
    throw ParseError(where, std::string("cannot read the member: ") + zip_strerror(archive));
  char buffer[1 << 16];
  zip_uint64_t total = 0;
  zip_int64_t n;
  while ((n = zip_fread(file.get(), buffer, sizeof(buffer))) > 0) {
    total += static_cast<zip_uint64_t>(n);
    if (total > stat.size) break;
    sink(buffer, static_cast<size_t>(n));
  }
  if (n < 0) {
    throw ParseError(where, std::string("expected an intact member, got a damaged one (") +
                                zip_file_strerror(file.get()) + ")");
  }
  if (total != stat.size) {
    throw ParseError(where, "expected " + std::to_string(stat.size) + " bytes, got " +
                                std::to_string(total) + " (damaged member)");
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_zip_members(const std::string& path) {
  auto archive = open_zip(path);
  std::vector<std::pair<std::string, std::string>> members;
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    std::string bytes;
    read_zip_member(archive.get(), static_cast<zip_uint64_t>(i), path,
                    [&](const char* data, size_t n) { bytes.append(data, n); });
    const char* name = zip_get_name(archive.get(), static_cast<zip_uint64_t>(i), 0);
    members.emplace_back(name ? name : "", std::move(bytes));
  }
  return members;
}

void verify_zip_archive(const std::string& path) {
  auto archive = open_zip(path);
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < count; ++i)
    read_zip_member(archive.get(), static_cast<zip_uint64_t>(i), path, [](const char*, size_t) {});
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  // A fresh file in the target's folder (mkstemp: exclusive even between processes that share
  // the folder), flushed to disk before the rename so that neither a crash nor a power loss
  // leaves a truncated `path`.
  std::string temporary = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) {
    throw std::runtime_error(
        path + ": cannot create a temporary file next to it: " + std::strerror(errno));
  }
  const auto fail = [&](const std::string& message) {
    ::close(fd);
    ::unlink(temporary.c_str());  // never leave a partial file behind
    throw std::runtime_error(message);
  };
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail(path + ": writing " + std::to_string(bytes.size()) + " bytes failed (" +
           std::strerror(n < 0 ? errno : ENOSPC) + "); the previous file is unchanged");
    }
    written += static_cast<size_t>(n);
  }
  // mkstemp creates 0600; give the file the permissions an ordinary write would.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0 || ::fsync(fd) != 0) {
    fail(path + ": cannot finish the file (" + std::strerror(errno) +
         "); the previous file is unchanged");
  }
  if (::close(fd) != 0) {
    ::unlink(temporary.c_str());
    throw std::runtime_error(path + ": closing the file failed: " + std::strerror(errno));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw std::runtime_error(path + ": cannot move the finished file into place: " + reason);
  }
  // The rename itself is durable once the folder is synced.
  const auto folder = std::filesystem::path(path).parent_path();
  const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace topo::datasets
