// Port forwarding through a relay: -L and -D (direct-tcpip channels that the client opens, opened
// again from the target), and -R (tcpip-forward requests passed to the target, whose
// forwarded-tcpip channels are opened again toward the client). Each forward is a forward_bridge.
#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

#include "relay.hpp"

namespace bastion::proxy {

namespace {

// Audit rows per session for forwards allowed, and for those refused; past that they are only
// logged once and counted (a browser behind -D opens hundreds).
constexpr int max_audited = 10;

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

int relay::refuse_forward(const std::string& what, const std::string& destination,
                          const std::string& reason) {
  if (refused_forwards_ < max_audited) {
    spdlog::info("{} {} {} refused: {}", log_prefix_, what, log_value(destination),
                 log_value(reason));
    audit_(what + ".refused", "denied",
           {{"target", target_},
            {"destination", destination},
            {"reason", reason},
            {"session", tap_ ? tap_->id() : "unrecorded"}});
  } else if (refused_forwards_ == max_audited) {
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
          .open_timeout = ctx_.cfg.limits.connect_timeout,
          .on_ssh_inside = [this, destination](bool allowed) {
            spdlog::warn("{} forward to {} carries an SSH connection ({})", log_prefix_,
                         log_value(destination), allowed ? "allowed by the grant" : "cut");
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
  const std::string destination = forward_name(host, port);
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
  audit_allowed("forward", {{"destination", destination}});
  return 0;
}

void relay::audit_allowed(const std::string& what, nlohmann::json detail) {
  if (allowed_forwards_++ >= max_audited) {
    return;  // the channel rows have every one
  }
  detail["target"] = target_;
  detail["grant"] = access_.grant;
  detail["session"] = tap_ ? tap_->id() : "unrecorded";
  audit_(what, "ok", detail);
}

// -R: the reply goes now (libssh frees the message when its callback returns), and the request
// goes upstream from pump_listens(). A target that then refuses it is reported to the client on
// its session channels and audited. Port 0 (the server picks one) is refused: its reply must carry
// the port, which only the target knows.
int relay::remote_forward_request(ssh_message message, bool cancel) {
  const char* address = ssh_message_global_request_address(message);
  const int port = ssh_message_global_request_port(message);
  const std::string bound = forward_name(address, port);
  const std::string exact = address != nullptr ? address : "";
  const auto same = [&](const remote_listen& l) { return l.address == exact && l.port == port; };
  if (cancel) {
    if (std::erase_if(listening_, same) > 0) {
      // A listen not sent yet goes with its cancel; else the cancel follows it upstream.
      if (std::erase_if(pending_listens_, same) == 0) {
        pending_listens_.push_back({exact, port, true});
      }
    }
    ssh_message_global_request_reply_success(message, 0);
    return 0;
  }
  std::string refusal;
  const auto limit = static_cast<std::size_t>(ctx_.cfg.limits.max_forwards);
  if (!running()) {
    refusal = error_.empty() ? "the session is not running" : error_;
  } else if (!policy::allows(access_, policy::channel_kind::remote_forward)) {
    refusal =
        "grant " + std::to_string(access_.grant) + " does not allow remote-forward on " + target_;
  } else if (port <= 0 || port > 65535 || exact.size() > 255) {
    refusal = "name the port to listen on (the bastion does not pass port 0)";
  } else if (std::any_of(listening_.begin(), listening_.end(), same)) {
    refusal = "it is already forwarded";
  } else if (listening_.size() >= limit || pending_listens_.size() >= 2 * limit) {
    refusal = "limits.max_forwards " + std::to_string(limit) + " reached";
  }
  if (!refusal.empty()) {
    return refuse_forward("remote-forward", bound, refusal);
  }
  listening_.push_back({exact, port, false});
  pending_listens_.push_back({exact, port, false});
  ssh_message_global_request_reply_success(message, static_cast<uint16_t>(port));
  audit_allowed("remote-forward", {{"listen", bound}});
  return 0;
}

// One global request at a time is outstanding on a libssh session, and in non-blocking mode the
// call returns SSH_AGAIN until its reply has come, and is repeated: the reply that then arrives is
// taken as this request's, whatever the arguments. So this is the only sender of global requests
// upstream (no keepalives there), and the front of the queue leaves only once answered.
bool relay::pump_listens() {
  bool progress = false;
  while (upstream_ && !pending_listens_.empty()) {
    // A copy: the call polls the whole event, and a client request handled there appends.
    const remote_listen l = pending_listens_.front();
    int bound = 0;
    const int rc =
        l.cancel ? ssh_channel_cancel_forward(upstream_.get(), l.address.c_str(), l.port)
                 : ssh_channel_listen_forward(upstream_.get(), l.address.c_str(), l.port, &bound);
    if (rc == SSH_AGAIN) {
      break;
    }
    progress = true;
    pending_listens_.erase(pending_listens_.begin());
    if (rc != SSH_OK && !l.cancel) {
      const std::string name = forward_name(l.address.c_str(), l.port);
      const std::string reason = "the target refused to listen on " + name;
      spdlog::info("{} {}", log_prefix_, log_value(reason));
      audit_("remote-forward", "error",
             {{"target", target_},
              {"listen", name},
              {"reason", reason},
              {"session", tap_ ? tap_->id() : "unrecorded"}});
      notify(reason + " (ssh -R); connections to it will not arrive");
      std::erase_if(listening_, [&](const remote_listen& x) {
        return x.address == l.address && x.port == l.port;
      });
    }
  }
  return progress;
}

// The upstream session's message callback: what the target sends that no callback took. A
// forwarded-tcpip open is accepted only for an address and port that the client listens on (the
// exact address, else the only listener on that port: a target may name the address as it bound
// it); everything else gets libssh's default reply, a refusal, so nothing waits in its queue.
int relay::on_upstream_message(ssh_session, ssh_message message, void* self) {
  try {
    return static_cast<relay*>(self)->accept_remote_forward(message);
  } catch (const std::exception& e) {
    spdlog::error("upstream message: {}", e.what());
    return 1;
  }
}

int relay::accept_remote_forward(ssh_message message) {
  if (ssh_message_type(message) != SSH_REQUEST_CHANNEL_OPEN ||
      ssh_message_subtype(message) != SSH_CHANNEL_FORWARDED_TCPIP) {
    return 1;
  }
  const char* address = ssh_message_channel_request_open_destination(message);
  const int port = ssh_message_channel_request_open_destination_port(message);
  const std::string exact = address != nullptr ? address : "";
  auto l = std::find_if(listening_.begin(), listening_.end(), [&](const remote_listen& x) {
    return x.address == exact && x.port == port;
  });
  if (l == listening_.end() &&
      std::count_if(listening_.begin(), listening_.end(),
                    [port](const remote_listen& x) { return x.port == port; }) == 1) {
    l = std::find_if(listening_.begin(), listening_.end(),
                     [port](const remote_listen& x) { return x.port == port; });
  }
  const std::string bound = forward_name(address, port);
  if (l == listening_.end()) {
    return refuse_forward("remote-forward", bound, "the client does not listen there");
  }
  if (!running() || client_session_ == nullptr ||
      forwards_.size() >= static_cast<std::size_t>(ctx_.cfg.limits.max_forwards)) {
    return refuse_forward("remote-forward", bound,
                          running() ? "limits.max_forwards reached" : "the session is not running");
  }
  const char* origin = ssh_message_channel_request_open_originator(message);
  forward_endpoint where{l->address, port, origin != nullptr ? origin : "",
                         ssh_message_channel_request_open_originator_port(message)};
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(message);
  if (channel == nullptr) {
    return 0;  // the session is failing; libssh has nothing more to reply
  }
  forwards_.push_back(forward_bridge::toward_client(
      forward_bridge::kind::remote, client_session_, channel, std::move(where),
      tap_ ? channel_tap(tap_, "forwarded-tcpip") : channel_tap(), forward_rules_for(bound),
      log_prefix_));
  return 0;
}

bool relay::pump_forwards() {
  bool progress = pump_listens();  // those that a pass of the bridges made ready to send
  // By index: a pump reads the client session, whose direct-tcpip opens append to forwards_.
  for (std::size_t i = 0; i < forwards_.size(); ++i) {
    progress = forwards_[i]->pump() || progress;
  }
  drop_finished(forwards_);
  return progress;
}

}  // namespace bastion::proxy
