// Port forwarding through a relay: -L and -D (direct-tcpip channels that the client opens, opened
// again from the target), and -R (tcpip-forward requests passed to the target, whose
// forwarded-tcpip channels are opened again toward the client). Each forward is a forward_bridge.
#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

#include "relay.hpp"

namespace bastion::proxy {

namespace {

std::string endpoint_name(const char* host, int port) {
  // Untrusted and up to a packet long: escaped and cut wherever it is shown or stored.
  return escape(std::string(host != nullptr ? host : "") + ":" + std::to_string(port), 300);
}

constexpr int max_refusals_audited = 10;

}  // namespace

int relay::on_client_message(ssh_session client_session, ssh_message message) {
  client_session_ = client_session;
  const int type = ssh_message_type(message);
  const int subtype = ssh_message_subtype(message);
  if (type == SSH_REQUEST_CHANNEL_OPEN && subtype == SSH_CHANNEL_DIRECT_TCPIP) {
    return open_local_forward(message);
  }
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    return remote_forward_request(message, false);
  }
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
    return remote_forward_request(message, true);
  }
  if (type == SSH_REQUEST_CHANNEL && subtype == SSH_CHANNEL_REQUEST_X11) {
    // Only where policy refused X11: elsewhere the channel's callback took it.
    return refuse_forward(
        "x11", "display",
        "grant " + std::to_string(access_.grant) + " does not allow x11 on " + target_);
  }
  return 1;
}

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
    audit_(agent ? "agent.forward" : "x11.forward", "ok",
           {{"target", target_},
            {"grant", access_.grant},
            {"session", tap_ ? tap_->id() : "unrecorded"}});
  }
}

// A channel that the target opens for the client's agent or X server: accepted only where the
// client asked for that forwarding on this relay and policy still allows it.
ssh_channel relay::accept_from_target(forward_bridge::kind kind, const char* origin,
                                      int origin_port) {
  const bool agent = kind == forward_bridge::kind::agent;
  const auto granted = agent ? policy::channel_kind::agent : policy::channel_kind::x11;
  const char* what = agent ? "agent" : "x11";
  const std::string from = endpoint_name(origin, origin_port);
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
      {.record_data = false, .inspect = false}, log_prefix_));
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

int relay::refuse_forward(const std::string& what, const std::string& destination,
                          const std::string& reason) {
  if (refused_forwards_ < max_refusals_audited) {
    spdlog::info("{} {} {} refused: {}", log_prefix_, what, destination, log_value(reason));
    audit_(what + ".refused", "denied",
           {{"target", target_},
            {"destination", destination},
            {"reason", reason},
            {"session", tap_ ? tap_->id() : "unrecorded"}});
  } else if (refused_forwards_ == max_refusals_audited) {
    spdlog::info("{} further refused forwards are not logged", log_prefix_);
  }
  ++refused_forwards_;
  return 1;  // libssh's default reply: the open or request fails
}

forward_rules relay::forward_rules_for(const std::string& destination) {
  // The bridge is owned by forwards_, which the relay clears before it goes.
  return {.record_data = access_.record_forward_data,
          .inspect = true,
          .ssh_inside = access_.forward_ssh_inside,
          .on_ssh_inside = [this, destination](bool allowed) {
            spdlog::warn("{} forward to {} carries an SSH connection ({})", log_prefix_,
                         destination, allowed ? "allowed by the grant" : "cut");
            audit_("forward.ssh_inside", allowed ? "ok" : "denied",
                   {{"target", target_},
                    {"destination", destination},
                    {"grant", access_.grant},
                    {"session", tap_ ? tap_->id() : "unrecorded"}});
          }};
}

// -L and -D: the client asks the target to connect to host:port. The channel is accepted at once
// (the upstream session may still be connecting); if the target then cannot connect, the client's
// channel closes.
int relay::open_local_forward(ssh_message message) {
  const char* host = ssh_message_channel_request_open_destination(message);
  const int port = ssh_message_channel_request_open_destination_port(message);
  const std::string destination = endpoint_name(host, port);
  if (!running()) {
    return refuse_forward("forward", destination,
                          error_.empty() ? "the session is not running" : error_);
  }
  if (!policy::forward_permitted(access_, host != nullptr ? host : "", port)) {
    return refuse_forward(
        "forward", destination,
        policy::allows(access_, policy::channel_kind::forward)
            ? "the key's permitopen= option does not name it"
            : "grant " + std::to_string(access_.grant) + " does not allow forward on " + target_);
  }
  if (forwards_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_forwards)) {
    return refuse_forward(
        "forward", destination,
        "limits.max_forwards " + std::to_string(ctx_.cfg.limits.max_forwards) + " reached");
  }
  const char* origin = ssh_message_channel_request_open_originator(message);
  forward_endpoint where{host != nullptr ? host : "", port, origin != nullptr ? origin : "",
                         ssh_message_channel_request_open_originator_port(message)};
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(message);
  if (channel == nullptr) {
    return 0;  // the session is failing; libssh has nothing more to reply
  }
  auto bridge = forward_bridge::local(channel, std::move(where),
                                      tap_ ? channel_tap(tap_, "direct-tcpip") : channel_tap(),
                                      forward_rules_for(destination), log_prefix_);
  if (upstream_) {
    bridge->attach(upstream_.get());
  }
  forwards_.push_back(std::move(bridge));
  return 0;
}

// -R: the reply goes now (libssh frees the message when its callback returns), and the request
// goes upstream from pump_listens(). A target that then refuses it is reported to the client on
// its session channels and audited. Port 0 (the server picks one) is refused: its reply must carry
// the port, which only the target knows.
int relay::remote_forward_request(ssh_message message, bool cancel) {
  const char* address = ssh_message_global_request_address(message);
  const int port = ssh_message_global_request_port(message);
  const std::string bound = endpoint_name(address, port);
  const std::string exact = address != nullptr ? address : "";
  if (cancel) {
    const auto n = std::erase_if(
        listening_, [&](const remote_listen& l) { return l.address == exact && l.port == port; });
    if (n > 0) {
      pending_listens_.push_back({exact, port, true});
    }
    ssh_message_global_request_reply_success(message, 0);
    return 0;
  }
  if (!running()) {
    return refuse_forward("remote-forward", bound,
                          error_.empty() ? "the session is not running" : error_);
  }
  if (!policy::allows(access_, policy::channel_kind::remote_forward)) {
    return refuse_forward(
        "remote-forward", bound,
        "grant " + std::to_string(access_.grant) + " does not allow remote-forward on " + target_);
  }
  if (port <= 0 || port > 65535 || exact.size() > 255) {
    return refuse_forward("remote-forward", bound,
                          "name the port to listen on (the bastion does not pass port 0)");
  }
  if (listening_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_forwards)) {
    return refuse_forward(
        "remote-forward", bound,
        "limits.max_forwards " + std::to_string(ctx_.cfg.limits.max_forwards) + " reached");
  }
  listening_.push_back({exact, port, false});
  pending_listens_.push_back({exact, port, false});
  ssh_message_global_request_reply_success(message, static_cast<uint16_t>(port));
  audit_("remote-forward", "ok",
         {{"target", target_},
          {"listen", bound},
          {"grant", access_.grant},
          {"session", tap_ ? tap_->id() : "unrecorded"}});
  return 0;
}

// One global request at a time is outstanding on a libssh session: in non-blocking mode the call
// returns SSH_AGAIN until the reply has come, and is repeated with the same arguments.
bool relay::pump_listens() {
  bool progress = false;
  while (upstream_ && !pending_listens_.empty()) {
    const remote_listen& l = pending_listens_.front();
    int bound = 0;
    const int rc =
        l.cancel ? ssh_channel_cancel_forward(upstream_.get(), l.address.c_str(), l.port)
                 : ssh_channel_listen_forward(upstream_.get(), l.address.c_str(), l.port, &bound);
    if (rc == SSH_AGAIN) {
      break;
    }
    progress = true;
    if (rc != SSH_OK && !l.cancel) {
      const std::string bound_name = endpoint_name(l.address.c_str(), l.port);
      const std::string reason = "the target refused to listen on " + bound_name;
      spdlog::info("{} {}", log_prefix_, log_value(reason));
      audit_("remote-forward", "error",
             {{"target", target_},
              {"listen", bound_name},
              {"reason", reason},
              {"session", tap_ ? tap_->id() : "unrecorded"}});
      notify("bastion: " + reason + " (ssh -R); connections to it will not arrive\r\n");
      std::erase_if(listening_, [&](const remote_listen& x) {
        return x.address == l.address && x.port == l.port;
      });
    }
    pending_listens_.erase(pending_listens_.begin());
  }
  return progress;
}

// forwarded-tcpip channels that the target opened: libssh queues them on the upstream session
// (it has no message callback) until taken here. libssh gives the port but not the address they
// arrived on, so the client's own address string is found by the port.
void relay::accept_remote_forwards() {
  if (!upstream_ || (listening_.empty() && pending_listens_.empty())) {
    return;
  }
  for (int taken = 0; taken < 64; ++taken) {
    int port = 0;
    int origin_port = 0;
    char* origin = nullptr;
    ssh_channel channel =
        ssh_channel_open_forward_port(upstream_.get(), 0, &port, &origin, &origin_port);
    if (channel == nullptr) {
      return;
    }
    const std::string origin_host = origin != nullptr ? origin : "";
    ssh_string_free_char(origin);
    const auto l = std::find_if(listening_.begin(), listening_.end(),
                                [port](const remote_listen& x) { return x.port == port; });
    const std::string bound = endpoint_name(l != listening_.end() ? l->address.c_str() : "", port);
    if (l == listening_.end() || !running() || client_session_ == nullptr ||
        forwards_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_forwards)) {
      refuse_forward("remote-forward", bound,
                     l == listening_.end() ? "the client does not listen there"
                                           : "limits.max_forwards or the session's end");
      ssh_channel_close(channel);
      ssh_channel_free(channel);
      continue;
    }
    forwards_.push_back(
        forward_bridge::toward_client(forward_bridge::kind::remote, client_session_, channel,
                                      {l->address, port, origin_host, origin_port},
                                      tap_ ? channel_tap(tap_, "forwarded-tcpip") : channel_tap(),
                                      forward_rules_for(bound), log_prefix_));
  }
}

bool relay::pump_forwards() {
  bool progress = pump_listens();  // those that a pass of the bridges made ready to send
  accept_remote_forwards();
  // By index: a pump reads the client session, whose direct-tcpip opens append to forwards_.
  for (std::size_t i = 0; i < forwards_.size(); ++i) {
    progress = forwards_[i]->pump() || progress;
  }
  std::erase_if(forwards_, [](const auto& f) { return f->finished(); });
  return progress;
}

}  // namespace bastion::proxy
