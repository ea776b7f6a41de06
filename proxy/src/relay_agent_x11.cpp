// Agent (-A) and X11 (-X/-Y) forwarding through a relay: the client's request on a session
// channel is replayed upstream by its channel_bridge where policy allows it, and the channels that
// the target then opens (auth-agent@openssh.com, x11) are opened again toward the client. Their
// bytes are counted, never recorded: an agent's carry keys and signatures, an X11 connection's
// everything on the client's display.
#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

#include "relay.hpp"

namespace bastion::proxy {

void relay::note_forwarding_asks(channel_bridge& bridge) {
  for (const auto& ask : bridge.take_forwarding_asks()) {
    const bool agent = ask.kind == policy::channel_kind::agent;
    if (!ask.allowed) {
      if (agent && access_.auth == policy::upstream_auth::agent) {
        continue;  // lent only to log in: upstream.agent_sign rows tell its use
      }
      refuse_forward(agent ? "agent" : "x11", agent ? "agent" : "display",
                     "grant " + std::to_string(access_.grant) + " does not allow " +
                         std::string(policy::to_string(ask.kind)) + " on " + target_);
      continue;
    }
    (agent ? agent_wanted_ : x11_wanted_) = true;
    audit_allowed(agent ? "agent.forward" : "x11.forward", nlohmann::json::object());
  }
}

// A channel that the target opens for the client's agent or X server: accepted only where the
// client asked for that forwarding on this relay and policy still allows it.
ssh_channel relay::accept_from_target(forward_bridge::kind kind, const char* origin,
                                      int origin_port) {
  const bool agent = kind == forward_bridge::kind::agent;
  const auto granted = agent ? policy::channel_kind::agent : policy::channel_kind::x11;
  const char* what = agent ? "agent" : "x11";
  const std::string from = forward_name(origin, origin_port);
  std::string refusal;
  if (!running() || client_session_ == nullptr || !upstream_) {
    refusal = "the session is not running";
  } else if (!(agent ? agent_wanted_ : x11_wanted_) || !policy::allows(access_, granted)) {
    refusal =
        std::string("the client did not ask for ") + what + " forwarding, or policy refused it";
  } else if (forwards_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_forwards)) {
    refusal = "limits.max_forwards " + std::to_string(ctx_.cfg.limits.max_forwards) + " reached";
  }
  if (!refusal.empty()) {
    refuse_forward(std::string(what) + ".channel", from, refusal);
    return nullptr;  // libssh refuses the open
  }
  ssh_channel channel = ssh_channel_new(upstream_.get());
  if (channel == nullptr) {
    return nullptr;
  }
  forwards_.push_back(forward_bridge::toward_client(
      kind, client_session_, channel, {{}, 0, origin != nullptr ? origin : "", origin_port},
      tap_ ? channel_tap(tap_, agent ? "auth-agent@openssh.com" : "x11") : channel_tap(),
      {.record_data = false, .inspect = false, .open_timeout = ctx_.cfg.limits.connect_timeout},
      log_prefix_));
  return channel;
}

// Nothing may unwind through libssh: a failure refuses the open.
ssh_channel relay::on_agent_open(ssh_session, void* self) {
  try {
    return static_cast<relay*>(self)->accept_from_target(forward_bridge::kind::agent, nullptr, 0);
  } catch (const std::exception& e) {
    spdlog::error("agent channel open: {}", e.what());
    return nullptr;
  }
}

ssh_channel relay::on_x11_open(ssh_session, const char* origin, int origin_port, void* self) {
  try {
    return static_cast<relay*>(self)->accept_from_target(forward_bridge::kind::x11, origin,
                                                         origin_port);
  } catch (const std::exception& e) {
    spdlog::error("x11 channel open: {}", e.what());
    return nullptr;
  }
}

// The dial logs in with the client's agent: a link to it, whose socket goes to the dialer once
// the client has opened the channel. Opened as soon as the access is known, so that `ssh -A -N`
// logs in too (OpenSSH accepts an agent channel whenever it forwards its agent, asked for on a
// session channel or not); a client without -A refuses it, and is told to use it at once. Each
// signature that passes is audited. The link is made by the next pump: libssh makes no channel on
// a session whose authentication is still under way (set_access runs in its auth callback).
void relay::lend_agent() {
  lend_agent_ = access_.allowed && access_.auth == policy::upstream_auth::agent;
}

void relay::make_agent_link() {
  agent_link_ = std::make_unique<agent_link>(
      strand_, client_session_, [this](const std::string& fingerprint, const char* result) {
        spdlog::info("{} the client's agent signed a login to {} with {}: {}", log_prefix_,
                     log_value(target_), fingerprint, result);
        audit_("upstream.agent_sign", result,
               {{"target", target_},
                {"login", login_},
                {"key", fingerprint},
                {"session", tap_ ? tap_->id() : "unrecorded"}});
      });
}

bool relay::pump_agent_link() {
  if (!agent_link_ && lend_agent_ && dialer_ && client_session_ != nullptr) {
    make_agent_link();
  }
  if (!agent_link_) {
    return false;
  }
  bool progress = agent_link_->pump();
  if (agent_link_->done()) {
    agent_link_.reset();
    return true;
  }
  if (!agent_link_->failure().empty() && dialer_) {
    const std::string reason = "the grant for " + target_ +
                               " logs in with your agent (upstream_auth agent), and " +
                               agent_link_->failure() + ": connect with ssh -A";
    agent_link_->release();
    dialer_->cancel();
    dialer_.reset();
    spdlog::info("{} {}", log_prefix_, reason);
    audit_("upstream", "error", {{"target", target_}, {"reason", reason}});
    end_all(reason);
    return true;
  }
  if (!dialer_) {
    return progress;
  }
  if (const int fd = agent_link_->take_library_end(); fd >= 0) {
    dialer_->set_agent(fd, [weak = weak_from_this()] {
      if (auto self = weak.lock(); self && self->agent_link_) {
        self->agent_link_->close();
      }
    });
    progress = true;
  }
  return progress;
}

}  // namespace bastion::proxy
