#include "provider/drbg_core.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <span>

#include "provider/errors.h"
#include "provider/prov_ctx.h"
#include "provider/rand_common.h"

namespace seedpool::provider {

using pool::Generator;

bool drbg_core_create(const ProvCtx& pc, DrbgCore& core) noexcept {
  if (!pc.cipher) {
    SEEDPOOL_RAISE(pc.handle, kReasonCipherFailed,
                   "AES-256-CTR is not available in libcrypto");
    return false;
  }
  if (pool::Errc rc = Generator::create(*pc.cipher, core.gen);
      rc != pool::Errc::ok) {
    SEEDPOOL_RAISE(pc.handle, reason_for(rc), "creating the generator: %s",
                   pool::describe(rc));
    return false;
  }
  core.reseed_pr_pending = false;
  return true;
}

bool drbg_core_reseed(DrbgCore& core, const DrbgCall& call,
                      const unsigned char* adin, std::size_t adin_len,
                      bool pr) noexcept {
  std::span<std::uint8_t> seed = core.gen->seed_scratch();
  async::DrawRequest req;
  req.out = seed;
  req.adin = {adin, adin != nullptr ? adin_len : 0};
  req.prediction_resistance = pr;
  req.pausing = call.pausing;
  // Another ASYNC job on this thread may use the same generator while this
  // one is paused in draw: draw writes `seed` only once it returns, and the
  // reseed follows at once, so the generator is never left half-updated.
  pool::Errc rc = async::draw(call.pool, req);
  if (rc == pool::Errc::ok) rc = core.gen->reseed(seed, call.pool->epoch());
  if (rc == pool::Errc::ok && pr) core.reseed_pr_pending = false;
  if (rc != pool::Errc::ok) {
    OPENSSL_cleanse(seed.data(), seed.size());
    raise_draw_error(call.handle, call.pool.get(), rc);
    return false;
  }
  return true;
}

bool drbg_core_generate(DrbgCore& core, const DrbgCall& call,
                        unsigned char* out, std::size_t outlen, bool pr,
                        const unsigned char* adin,
                        std::size_t adin_len) noexcept {
  Generator& gen = *core.gen;
  bool has_adin = adin != nullptr && adin_len > 0;
  pr = pr || core.reseed_pr_pending;
  const std::uint64_t piece_max = gen.policy().reseed_bytes;
  std::size_t done = 0;
  while (done < outlen) {
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(outlen - done, piece_max));
    const Generator::Trigger t =
        gen.reseed_trigger(n, pr, has_adin, call.pool->epoch());
    if (t == Generator::Trigger::epoch) {
      // Not a limit: reseed if the pool can serve now, else carry on.
      std::span<std::uint8_t> seed = gen.seed_scratch();
      if (call.pool->try_read(seed, {}, false) == pool::Errc::ok)
        (void)gen.reseed(seed, call.pool->epoch());
      OPENSSL_cleanse(seed.data(), seed.size());
    } else if (t != Generator::Trigger::none &&
               !drbg_core_reseed(core, call, adin, adin_len, pr)) {
      OPENSSL_cleanse(out, done);
      return false;
    }
    if (pool::Errc rc = gen.generate({out + done, n}); rc != pool::Errc::ok) {
      OPENSSL_cleanse(out, done);
      SEEDPOOL_RAISE(call.handle, reason_for(rc));
      return false;
    }
    done += n;
    // Prediction resistance and additional input apply to the request, not
    // to every piece.
    pr = false;
    has_adin = false;
    adin = nullptr;
    adin_len = 0;
  }
  return true;
}

}  // namespace seedpool::provider
