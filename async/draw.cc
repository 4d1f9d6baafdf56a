#include "async/draw.h"

namespace seedpool::async {

pool::Errc draw(const std::shared_ptr<pool::Pool>& pool,
                const DrawRequest& req) noexcept {
  // Pausing inside an ASYNC job is not implemented yet (the async issue):
  // every caller gets the bounded wait, which is always safe.
  return pool->read(req.out, req.adin, req.prediction_resistance,
                    pool->config().block_timeout);
}

}  // namespace seedpool::async
