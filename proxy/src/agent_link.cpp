// Lending the client's agent to libssh: opening the agent channel, pumping it to a socket pair,
// and reading the agent protocol frames that cross (draft-miller-ssh-agent) to report signatures.
#include "agent_link.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bastion/common/log.hpp>

namespace bastion::proxy {

namespace {

// OpenSSH's ssh-agent refuses messages over 256 KiB; so does this link.
constexpr std::size_t max_frame = std::size_t{256} * 1024;
constexpr unsigned char sign_request = 13;   // SSH_AGENTC_SIGN_REQUEST
constexpr unsigned char sign_response = 14;  // SSH_AGENT_SIGN_RESPONSE
// The bytes of one conversation that may wait unparsed, and the requests awaiting replies.
constexpr std::size_t max_awaiting = 64;

std::uint32_t be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

// Calls `each(frame)` for every whole frame at the front of `buffer` (its type byte first) and
// removes them; false if a frame is malformed or over the bound.
template <class Each>
bool take_frames(std::string& buffer, Each each) {
  std::size_t at = 0;
  while (buffer.size() - at >= 4) {
    const std::uint32_t len = be32(buffer.data() + at);
    if (len == 0 || len > max_frame) {
      return false;
    }
    if (buffer.size() - at - 4 < len) {
      break;
    }
    each(std::string_view(buffer).substr(at + 4, len));
    at += 4 + len;
  }
  buffer.erase(0, at);
  return buffer.size() <= max_frame + 4;
}

}  // namespace

agent_link::~agent_link() {
  close();
  if (far_ >= 0) {
    ::close(far_);
  }
}

void agent_link::open(ssh_session client_session) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    failure_ = "the bastion could not make a socket for the agent";
    return;
  }
  near_ = fds[0];
  far_ = fds[1];  // blocking: libssh reads and writes it with plain calls
  ::fcntl(near_, F_SETFL, ::fcntl(near_, F_GETFL) | O_NONBLOCK);
  channel_ = ssh_channel_new(client_session);
  if (channel_ == nullptr) {
    failure_ = "the bastion could not make a channel for the agent";
    return;
  }
  opening_ = true;
}

int agent_link::take_library_end() {
  if (!tunnel_) {
    return -1;
  }
  return std::exchange(far_, -1);
}

// In non-blocking mode the open returns SSH_AGAIN until the client answers; a client that was
// not started with -A refuses it.
bool agent_link::pump() {
  if (!failure_.empty() && !opening_) {
    return false;
  }
  if (opening_) {
    const int rc = ssh_channel_open_auth_agent(channel_);
    if (rc == SSH_AGAIN) {
      return false;
    }
    opening_ = false;
    if (released_) {
      close();
      return true;
    }
    if (rc != SSH_OK) {
      ssh_channel_free(channel_);
      channel_ = nullptr;
      failure_ = "the client did not open its agent to the bastion";
      return true;
    }
    tunnel_ = std::make_unique<tunnel>(std::exchange(channel_, nullptr), std::exchange(near_, -1));
    // Toward the socket is toward libssh: the agent's replies.
    tunnel_->observe(
        [this](bool to_socket, const char* data, std::size_t n) { observe(to_socket, data, n); });
    watch_.assign(tunnel_->fd());
  }
  const bool progress = tunnel_ && tunnel_->pump();
  if (!failure_.empty()) {
    close();  // not from inside the tunnel's pump, whose observer found the failure
  }
  return progress;
}

void agent_link::arm(const std::function<void()>& on_ready) {
  if (tunnel_ && !tunnel_->finished()) {
    watch_.arm(on_ready, tunnel_->wants_read(), tunnel_->wants_write());
  }
}

void agent_link::release() {
  released_ = true;
  if (!opening_) {
    close();
  }
}

void agent_link::close() {
  if (opening_) {
    released_ = true;  // the open's answer closes it (release())
    return;
  }
  // Sign requests that never got their answer are reported too.
  for (const auto& fingerprint : std::exchange(awaiting_, {})) {
    if (!fingerprint.empty() && on_sign_) {
      on_sign_(fingerprint, "unanswered");
    }
  }
  watch_.release();
  tunnel_.reset();  // closes the channel and the near end
  if (channel_ != nullptr) {
    ssh_channel_free(channel_);
    channel_ = nullptr;
  }
  if (near_ >= 0) {
    ::close(near_);
    near_ = -1;
  }
}

// `to_library` false: from libssh toward the client's agent (a request).
void agent_link::observe(bool to_library, const char* data, std::size_t n) {
  std::string& buffer = to_library ? replies_ : requests_;
  buffer.append(data, n);
  const bool ok = take_frames(
      buffer, [&](std::string_view frame) { to_library ? on_reply(frame) : on_request(frame); });
  if (!ok || awaiting_.size() > max_awaiting) {
    spdlog::warn("agent link: a malformed or oversized agent message; closing the link");
    failure_ = "the agent sent a malformed message";  // pump() closes the link
  }
}

// A sign request: byte type, string key blob, string data, uint32 flags.
void agent_link::on_request(std::string_view frame) {
  std::string fingerprint;
  if (static_cast<unsigned char>(frame[0]) == sign_request && frame.size() >= 5) {
    const std::uint32_t len = be32(frame.data() + 1);
    if (len <= frame.size() - 5) {
      fingerprint = sha256_fingerprint_of_blob(frame.substr(5, len));
    }
  }
  awaiting_.push_back(std::move(fingerprint));
}

void agent_link::on_reply(std::string_view frame) {
  if (awaiting_.empty()) {
    // libssh would take it as the answer to its next request: the pairing would be lost.
    failure_ = "the agent answered a request that was not made";
    return;
  }
  const std::string fingerprint = std::move(awaiting_.front());
  awaiting_.pop_front();
  if (!fingerprint.empty() && on_sign_) {
    on_sign_(fingerprint, static_cast<unsigned char>(frame[0]) == sign_response ? "ok" : "denied");
  }
}

}  // namespace bastion::proxy
