// SPDX-License-Identifier: Apache-2.0
/// \file
/// `topoformer train --nproc N` on one machine: starts N copies of this command as data-parallel
/// workers with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT), and supervises them as torchrun does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace topo::app {

/// Runs `command_line` (argv, this program first) as `nproc` workers and waits for them. When
/// one fails (non-zero status or a signal), the others are stopped (SIGTERM, then SIGKILL after
/// 5 s) and the launcher returns 1 after naming the failed rank; SIGINT or SIGTERM to the
/// launcher stops every worker the same way (status 130 or 143). Workers die with the launcher
/// (PR_SET_PDEATHSIG). Returns 0 when every worker succeeded.
int launch_workers(int64_t nproc, const std::vector<std::string>& command_line);

}  // namespace topo::app
