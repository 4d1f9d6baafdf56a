// The half of pool_bench that needs a starved pool fed by hand: seedpool
// configured with a FIFO as its only source (as test/provider/
// async_provider_test.cc does). The pool is process-wide and a second
// configuration of it fails closed (config conflict), so this half runs in
// a child process of its own, forked before anything else is loaded.
#pragma once

#include <vector>

#include "pool_bench_rows.h"
#include "pool_bench_util.h"

namespace seedpool::bench::pb {

// The rows, in order: the paused-request cycle against a bare
// pause + eventfd cycle, the wake latency (median, then p99), and the
// gatherer's wake-ups while the FIFO-fed pool is full. A measurement that
// could not run is a row with ran == false.
std::vector<Row> run_fifo_part(const Plan& plan);

// The same rows, each failed with `why` (the child died, say).
std::vector<Row> failed_fifo_rows(const std::string& why);

// Removes the FIFO and its config file should SIGINT, SIGTERM or SIGHUP
// end the process; call once in the process that runs run_fifo_part.
void install_cleanup_on_signals();

}  // namespace seedpool::bench::pb
