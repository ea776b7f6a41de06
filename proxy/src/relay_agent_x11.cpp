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

}  // namespace bastion::proxy
