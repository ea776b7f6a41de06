// The admin API's blocking work (PostgreSQL queries, reading and decompressing recordings) runs
// here, never on the io thread: a few threads, each lending a pooled database connection to the
// job it runs, behind a bound on the jobs waiting. Internal to admin/.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <bastion/policy/store.hpp>

namespace bastion::admin {

// The pool already has as many jobs as it may hold: the request is answered 503, never queued
// without bound.
class pool_busy : public std::runtime_error {
 public:
  pool_busy() : std::runtime_error("the admin API is busy; try again in a moment") {}
};

class worker_pool {
 public:
  worker_pool(std::string conninfo, std::string node, std::size_t threads, std::size_t max_jobs);
  ~worker_pool();  // waits for the running jobs
  // Drops the jobs not started and waits for those running.
  void stop() {
    pool_.stop();
    pool_.join();
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // Runs `job(store)` on a worker thread; the caller's coroutine resumes on its own executor with
  // the result, or the exception the job threw (store_error, ...). Throws pool_busy at once when
  // max_jobs are queued or running.
  //
  // Jobs are taken by reference, so callers name them (`auto job = [...]{...}; co_await
  // pool.run(job);`): GCC 12 destroys a temporary with a destructor (a lambda capturing a
  // string) twice when it sits in the full-expression of a co_await (a double free seen here).
  template <class Job>
  boost::asio::awaitable<std::invoke_result_t<Job&, policy::store&>> run(Job& job) {
    using out = std::invoke_result_t<Job&, policy::store&>;
    auto leased = [this, &job] {
      lease held(*this);
      return held.call(job);
    };
    auto result = co_await on_pool<out>(leased);
    co_return result;
  }

  // Runs `job()` (no database) on a worker thread, under the same bound.
  template <class Job>
  boost::asio::awaitable<std::invoke_result_t<Job&>> run_plain(Job& job) {
    auto result = co_await on_pool<std::invoke_result_t<Job&>>(job);
    co_return result;
  }

 private:
  // co_spawn hands results back through a default-constructed value, which a result holding a
  // recording reader has not: they travel in an optional.
  template <class Out, class Fn>
  boost::asio::awaitable<Out> on_pool(Fn& fn) {
    static_assert(!std::is_void_v<Out>, "a job returns its result");
    const admission ticket(*this);
    auto out = co_await boost::asio::co_spawn(
        pool_.get_executor(),
        [&fn]() -> boost::asio::awaitable<std::optional<Out>> {
          co_return std::optional<Out>(fn());
        },
        boost::asio::use_awaitable);
    co_return std::move(*out);
  }

  // One job's place under max_jobs, from its admission until its result is back.
  class admission {
   public:
    explicit admission(worker_pool& pool);
    ~admission();
    admission(const admission&) = delete;
    admission& operator=(const admission&) = delete;

   private:
    worker_pool& pool_;
  };

  // A connection lent to one job; one that lost the database is dropped, and the next job
  // connects again.
  class lease {
   public:
    explicit lease(worker_pool& pool);
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

    template <class Job>
    auto call(Job& job) {
      try {
        return job(*store_);
      } catch (const policy::store_error& e) {
        broken_ = e.code() == policy::store_error::kind::unavailable;
        throw;
      }
    }

   private:
    worker_pool& pool_;
    std::unique_ptr<policy::store> store_;
    bool broken_ = false;
  };

  std::string conninfo_;
  std::string node_;
  std::size_t max_jobs_;
  std::mutex mutex_;
  std::size_t jobs_ = 0;                              // under mutex_
  std::vector<std::unique_ptr<policy::store>> idle_;  // under mutex_
  boost::asio::thread_pool pool_;                     // last: joined before the connections go
};

}  // namespace bastion::admin
