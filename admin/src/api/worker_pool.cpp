// The admin API's worker pool: admission and pooled connections.
#include "worker_pool.hpp"

namespace bastion::admin {

worker_pool::worker_pool(std::string conninfo, std::string node, std::size_t threads,
                         std::size_t max_jobs)
    : conninfo_(std::move(conninfo)), node_(std::move(node)), max_jobs_(max_jobs), pool_(threads) {}

worker_pool::~worker_pool() {
  pool_.join();
}

worker_pool::admission::admission(worker_pool& pool) : pool_(pool) {
  const std::lock_guard lock(pool_.mutex_);
  if (pool_.jobs_ >= pool_.max_jobs_) {
    throw pool_busy();
  }
  ++pool_.jobs_;
}

worker_pool::admission::~admission() {
  const std::lock_guard lock(pool_.mutex_);
  --pool_.jobs_;
}

// Connecting happens on the worker thread, never on the io thread.
worker_pool::lease::lease(worker_pool& pool) : pool_(pool) {
  {
    const std::lock_guard lock(pool_.mutex_);
    if (!pool_.idle_.empty()) {
      store_ = std::move(pool_.idle_.back());
      pool_.idle_.pop_back();
    }
  }
  if (!store_) {
    store_ = std::make_unique<policy::store>(pool_.conninfo_, "", pool_.node_);
  }
}

worker_pool::lease::~lease() {
  if (broken_) {
    return;
  }
  store_->set_actor("");
  const std::lock_guard lock(pool_.mutex_);
  pool_.idle_.push_back(std::move(store_));
}

}  // namespace bastion::admin
