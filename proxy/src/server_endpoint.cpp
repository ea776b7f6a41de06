// The shared server half of outer and inner sessions.
#include "server_endpoint.hpp"

#include <unistd.h>

#include <bastion/common/escape.hpp>
#include <bastion/proxy/ssh_server.hpp>

namespace bastion::proxy {

server_endpoint::server_endpoint(const strand_type& strand, const connection_context& ctx)
    : strand_(strand), ctx_(ctx), fd_(strand_) {}

server_endpoint::~server_endpoint() = default;

bool server_endpoint::accept(ssh_bind bind, int fd) {
  session_.reset(ssh_new());
  if (!session_) {
    ::close(fd);
    close_reason_ = "out of memory for a new session";
    return false;
  }
  const std::lock_guard lock(ctx_.bind_mutex);
  if (auto accepted = accept_fd(bind, session_.get(), fd); !accepted) {
    close_reason_ = accepted.error().text;
    session_.reset();  // closes the fd if the session had taken it
    return false;
  }
  fd_.assign(fd);  // released before the session is freed
  return true;
}

void server_endpoint::install_callbacks(std::string banner) {
  banner_ = std::move(banner);
  if (!banner_.empty() && banner_.back() != '\n') {
    banner_ += "\r\n";  // the client prints it as it is; the next line starts on its own
  }
  callbacks_.userdata = static_cast<server_endpoint*>(this);
  callbacks_.auth_none_function = auth_none_cb;
  callbacks_.auth_pubkey_function = auth_pubkey_cb;
  callbacks_.auth_password_function = auth_password_cb;
  callbacks_.channel_open_request_session_function = channel_open_cb;
  ssh_callbacks_init(&callbacks_);
  ssh_set_server_callbacks(session_.get(), &callbacks_);
  // What the server callbacks leave (direct-tcpip opens, global requests, service requests, auth
  // "none") comes through here; 1 gives libssh's default reply.
  ssh_set_message_callback(session_.get(), message_cb, static_cast<server_endpoint*>(this));
  ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_blocking(session_.get(), 0);
}

bool server_endpoint::key_exchange_step(ssh_event event) {
  switch (proxy::key_exchange_step(session_.get())) {
    case key_exchange_progress::done:
      ssh_event_add_session(event, session_.get());
      in_event_ = true;
      return true;
    case key_exchange_progress::failed:
      close_reason_ = "key exchange failed: " + failure_reason(session_.get());
      return false;
    case key_exchange_progress::more:
      return true;
    case key_exchange_progress::wait:
      break;
  }
  return false;
}

int server_endpoint::refuse_auth(const std::string& user, const std::string& why,
                                 auth_method method) {
  ++failed_auth_;
  report_refusal(user, why, failed_auth_, method);
  if (failed_auth_ >= ctx_.cfg.limits.max_auth_tries) {
    close_reason_ = "too many authentication failures (max_auth_tries " +
                    std::to_string(ctx_.cfg.limits.max_auth_tries) + ")";
  }
  return SSH_AUTH_DENIED;  // one reply for every refusal: no user enumeration
}

std::string server_endpoint::grace_expired() const {
  return "not authenticated within login_grace_time " +
         format_duration(ctx_.cfg.limits.login_grace_time);
}

std::string server_endpoint::end_reason() const {
  if (callback_failed_) {
    return "the bastion failed to handle a request (see its log)";
  }
  return close_reason_;
}

void server_endpoint::end_session(ssh_event event, const std::string& message) {
  if (!session_) {
    return;
  }
  fd_.release();  // libssh closes the fd
  if (in_event_) {
    ssh_event_remove_session(event, session_.get());
    in_event_ = false;
  }
  if (!message.empty()) {
    ssh_session_set_disconnect_message(session_.get(), message.c_str());
  }
  ssh_disconnect(session_.get());
  session_.reset();
}

policy::key_context server_endpoint::key_context_of(std::string_view peer) {
  std::string_view ip = peer;
  if (ip.starts_with('[')) {
    ip = ip.substr(1, ip.find(']') - 1);
  } else if (const auto colon = ip.rfind(':'); colon != std::string_view::npos) {
    ip = ip.substr(0, colon);
  }
  return {ip, std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count()};
}

// The banner goes before the reply to the first authentication request, whatever its method (an
// OpenSSH client starts with "none"; others may offer a key first). It is a packet on this
// session itself, queued before libssh's reply.
void server_endpoint::send_banner() {
  if (banner_.empty()) {
    return;
  }
  const ssh_string_ptr text(ssh_string_from_char(banner_.c_str()));
  banner_.clear();
  if (text) {
    ssh_send_issue_banner(session_.get(), text.get());
  }
}

// "none" is how a client asks which methods there are: refused, and not counted as a failed
// attempt (neither does sshd count it).
int server_endpoint::auth_none_cb(ssh_session, const char* /*user*/, void* self) {
  auto& e = *static_cast<server_endpoint*>(self);
  return guarded(e, static_cast<int>(SSH_AUTH_DENIED), [&] {
    e.send_banner();
    return static_cast<int>(SSH_AUTH_DENIED);
  });
}

int server_endpoint::auth_pubkey_cb(ssh_session, const char* user, ssh_key key, char state,
                                    void* self) {
  auto& e = *static_cast<server_endpoint*>(self);
  return guarded(e, static_cast<int>(SSH_AUTH_DENIED), [&] {
    e.send_banner();
    return e.decide_pubkey(user != nullptr ? user : "", key, state);
  });
}

int server_endpoint::auth_password_cb(ssh_session, const char* user, const char* /*password*/,
                                      void* self) {
  auto& e = *static_cast<server_endpoint*>(self);
  return guarded(e, static_cast<int>(SSH_AUTH_DENIED), [&] {
    e.send_banner();
    return e.refuse_auth(user != nullptr ? user : "", "password authentication is disabled",
                         auth_method::password);
  });
}

ssh_channel server_endpoint::channel_open_cb(ssh_session, void* self) {
  auto& e = *static_cast<server_endpoint*>(self);
  return guarded(e, ssh_channel{nullptr}, [&] { return e.open_session_channel(); });
}

int server_endpoint::message_cb(ssh_session, ssh_message message, void* self) {
  auto& e = *static_cast<server_endpoint*>(self);
  return guarded(e, 1, [&] { return e.on_message(message); });
}

}  // namespace bastion::proxy
