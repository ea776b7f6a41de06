// The admin HTTP API that bastiond serves on admin.listen: sessions, their recordings as
// asciicast, kill and the audit trail, for holders of a bearer token (`bastionctl token create`).
// Plain HTTP on loopback, TLS (admin.tls_cert, admin.tls_key) anywhere else. It runs on an io
// thread of its own, and its blocking work (PostgreSQL, recording files) on a small worker pool,
// so that neither an admin's export nor a slow database ever delays a session's relay.
#pragma once

#include <memory>

#include <bastion/common/config.hpp>

namespace bastion::policy {
class journal;
}
namespace bastion::recorder {
class recording_service;
}

namespace bastion::admin {

class api_server {
 public:
  // Listens on cfg.admin_listen and starts serving. Throws std::runtime_error naming the key and
  // the fix when it cannot listen or load its certificate.
  // `recorder` is where live watches attach to sessions as they are recorded.
  api_server(const config& cfg, policy::journal& journal, recorder::recording_service& recorder);
  // Closes the listener and every connection, and waits for the threads.
  ~api_server();
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bastion::admin
