// Dialing the target, then bridging each session channel to it.
#include "relay.hpp"

#include <boost/asio/post.hpp>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>
#include <bastion/proxy/ssh_server.hpp>

#include "proxy_metrics.hpp"

namespace bastion::proxy {

relay::relay(const strand_type& strand, const connection_context& ctx, ssh_event event,
             std::shared_ptr<channel_budget> channels, std::string log_prefix, std::string target,
             std::function<void()> wake, audit_fn audit)
    : strand_(strand),
      ctx_(ctx),
      event_(event),
      channels_(std::move(channels)),
      // Every line of a session names its client, user, target and (once recorded) session.
      log_prefix_(std::move(log_prefix) + " target=" + log_value(target)),
      wake_(std::move(wake)),
      audit_(std::move(audit)),
      target_(std::move(target)),
      duration_limit_(strand),
      idle_check_(strand),
      linger_(strand),
      up_fd_(strand) {}

relay::~relay() {
  close();
}

namespace {

// What the client reads when its recording fails under fail_closed: the cause as the failed call
// gave it, without the bastion's paths ("write: No space left on device" says "No space left on
// device"); the log and the audit row have all of it.
std::string recording_lost(const std::string& failure) {
  const auto colon = failure.rfind(": ");
  const std::string cause = colon == std::string::npos ? failure : failure.substr(colon + 2);
  return "the session recording cannot be persisted (" + escape(cause, 100) +
         "), so the session ends (recording.failure_mode fail_closed)";
}

}  // namespace

void relay::dial(const policy::target_info& target) {
  target_ = target.name;
  upstream_request request{target.name,
                           target.host,
                           target.port,
                           login_,  // empty until set_access, which then passes it on
                           target.host_keys,
                           ctx_.upstream_key,
                           ctx_.cfg.limits.connect_timeout,
                           access_.auth == policy::upstream_auth::agent,
                           &ctx_.blocking_pool};
  // The dialer reports to a relay that may be gone by then (its inner session ended).
  dialer_ = std::make_shared<upstream_dialer>(strand_, std::move(request),
                                              [weak = weak_from_this()](upstream_result r) {
                                                if (auto self = weak.lock()) {
                                                  self->on_upstream(std::move(r));
                                                }
                                              });
  dialer_->start();
  lend_agent();  // the username form knows its access already
}

void relay::set_access(policy::access_decision access, session_identity who) {
  login_ = who.login;
  access_ = std::move(access);
  if (!access_.allowed) {
    return refuse(access_.reason);
  }
  who.target = target_;
  if (ctx_.cfg.recording.enabled) {
    tap_ = std::make_shared<session_tap>(ctx_.recorder, ctx_.journal, ctx_.cfg.node_name, who);
    log_prefix_ += " session=" + tap_->id();
    // From the writer thread, when a bridge held back for the recorder may go on, or the
    // recording failed: a step of the connection, on its strand.
    tap_->on_room([strand = strand_, weak = weak_from_this()] {
      boost::asio::post(strand, [weak] {
        if (auto self = weak.lock()) {
          self->wake_();
        }
      });
    });
  }
  active_ = metrics::gauge_hold(proxy_metrics::get().sessions_active);
  audit_("session.start", "ok",
         {{"target", target_},
          {"login", login_},
          {"grant", access_.grant},
          {"session", tap_ ? tap_->id() : "unrecorded"}});
  start_limits();
  if (dialer_) {
    dialer_->set_login(login_, access_.auth == policy::upstream_auth::agent);
  }
  lend_agent();
}

namespace {

// The tighter of the node's limit (0: none) and the grant's (nullopt: none), and where it is from.
std::pair<duration, std::string> tighter(duration node, const char* key,
                                         std::optional<std::int64_t> grant_seconds,
                                         std::int64_t grant) {
  const std::string node_name = std::string("limits.") + key;
  if (!grant_seconds) {
    return {node, node_name};
  }
  const auto by_grant = std::chrono::duration_cast<duration>(std::chrono::seconds(*grant_seconds));
  if (node.count() > 0 && node <= by_grant) {
    return {node, node_name};
  }
  return {by_grant, "grant " + std::to_string(grant) + "'s " + key};
}

}  // namespace

void relay::start_limits() {
  const auto& limits = ctx_.cfg.limits;
  std::tie(max_duration_, max_duration_from_) =
      tighter(limits.max_session_duration, "max_session_duration", access_.max_session_seconds,
              access_.grant);
  std::tie(idle_limit_, idle_limit_from_) =
      tighter(limits.idle_timeout, "idle_timeout", access_.idle_timeout_seconds, access_.grant);
  last_activity_ = std::chrono::steady_clock::now();
  if (max_duration_.count() > 0) {
    duration_limit_.expires_after(max_duration_);
    duration_limit_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) {
        self->end_by_limit("the session reached " + self->max_duration_from_ + " " +
                           format_duration(self->max_duration_));
      }
    });
  }
  if (idle_limit_.count() > 0) {
    arm_idle_check(idle_limit_);
  }
}

// Activity is data moving either way (pump() notes it); the check sleeps until the earliest
// moment the session could have been idle for idle_timeout.
void relay::arm_idle_check(duration after) {
  idle_check_.expires_after(after);
  idle_check_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) {
      return;
    }
    const duration idle = self->idle_limit_;
    const auto quiet = std::chrono::steady_clock::now() - self->last_activity_;
    if (quiet >= idle) {
      self->end_by_limit("the session was idle for " + self->idle_limit_from_ + " " +
                         format_duration(idle));
    } else {
      self->arm_idle_check(std::chrono::duration_cast<duration>(idle - quiet));
    }
  });
}

void relay::end_by_limit(const std::string& reason) {
  if (closed_) {
    return;
  }
  if (!error_.empty()) {  // already failed (its channels told why): the limit still ends it
    linger();
    return;
  }
  spdlog::info("{} {}", log_prefix_, reason);
  audit_("session.limit", "ended", {{"target", target_}, {"reason", reason}});
  end_all(reason);
  wake_();  // from a timer: never inside a step
}

void relay::end_by_admin(std::string code, const std::string& message, const std::string& by) {
  if (!running()) {
    return;
  }
  end_code_ = std::move(code);
  spdlog::info("{} ended ({}{}): {}", log_prefix_, end_code_,
               by.empty() ? "" : " by " + log_value(by), log_value(message));
  nlohmann::json detail = {
      {"target", target_}, {"session", tap_ ? tap_->id() : "unrecorded"}, {"reason", message}};
  if (!by.empty()) {
    detail["by"] = by;
  }
  audit_("session." + end_code_, "ended", detail);
  end_all(message);
  wake_();  // from a posted handler: never inside a step
}

void relay::recheck(policy::access_decision access) {
  if (!running()) {
    return;
  }
  if (!access.allowed) {
    return end_by_admin("revoked", "access to " + target_ + " was revoked (" + access.reason +
                                       "); the session ends");
  }
  if (const std::string why = no_longer_allowed(access); !why.empty()) {
    return end_by_admin("revoked", why + "; the session ends");
  }
  access_ = std::move(access);
}

std::string relay::no_longer_allowed(const policy::access_decision& access) const {
  std::vector<policy::channel_kind> running_kinds;
  for (const auto& b : bridges_) {
    if (const auto kind = b->kind()) {
      running_kinds.push_back(*kind);
    }
  }
  for (const auto& f : forwards_) {
    running_kinds.push_back(f->granted_as());
    const auto& where = f->where();
    if (f->what() == forward_bridge::kind::local &&
        policy::allows(access, policy::channel_kind::forward) &&
        !policy::forward_permitted(access, where.host, where.port)) {
      return "the key's permitopen= no longer allows the forward to " +
             forward_name(where.host.c_str(), where.port);
    }
  }
  if (!listening_.empty()) {
    running_kinds.push_back(policy::channel_kind::remote_forward);
  }
  for (const auto kind : running_kinds) {
    if (!policy::allows(access, kind)) {
      return "grant " + std::to_string(access.grant) + " no longer allows " +
             std::string(policy::to_string(kind)) + " on " + target_;
    }
  }
  return {};
}

bool relay::kill(std::string_view session_id, const std::string& by) {
  if (!tap_ || tap_->id() != session_id || !running()) {
    return false;
  }
  end_by_admin("killed", "an administrator ended this session", by);
  return true;
}

void relay::refuse(std::string reason) {
  if (!error_.empty()) {
    return;
  }
  nlohmann::json detail = {{"target", target_}, {"reason", reason}};
  if (!login_.empty()) {
    detail["login"] = login_;
  }
  if (access_.grant != 0) {
    detail["grant"] = access_.grant;  // the grant that named the login and refused it
  }
  audit_("session.refused", "denied", detail);
  fail_all(reason);
  if (dialer_) {
    dialer_->cancel();
  }
}

void relay::fail_all(const std::string& reason) {
  error_ = reason;
  if (dialer_) {  // a login still running (with the user's agent, say) stops too
    dialer_->cancel();
    dialer_.reset();
  }
  if (agent_link_) {
    agent_link_->release();
  }
  for (auto& b : bridges_) {
    b->fail(error_);
  }
  for (auto& f : forwards_) {
    f->fail(error_);
  }
  listening_.clear();
  pending_listens_.clear();
}

void relay::end_all(const std::string& reason) {
  fail_all(reason);
  linger();
}

void relay::linger() {
  if (lingering_) {
    return;
  }
  lingering_ = true;
  linger_.expires_after(std::chrono::seconds(5));
  linger_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec && !self->closed_) {
      self->lingered_ = true;
      self->wake_();  // from a timer: never inside a step
    }
  });
}

void relay::on_upstream(upstream_result result) {
  dialer_.reset();
  if (agent_link_) {
    agent_link_->release();  // the login is over: the client's agent goes back
  }
  if (closed_) {
    return;  // the result's session, if any, is disconnected and freed with it
  }
  if (!error_.empty()) {
    return;  // refused meanwhile; the session (if any) closes as it goes
  }
  const auto& m = proxy_metrics::get();
  (result.session ? m.upstream_connects_ok : m.upstream_connects_failed).Increment();
  if (!result.session) {
    spdlog::warn("{} unreachable: {}", log_prefix_, log_value(result.error));
    audit_("upstream", "error", {{"target", target_}, {"reason", result.error}});
    end_all(result.error);
  } else {
    upstream_ = std::move(result.session);
    last_activity_ = std::chrono::steady_clock::now();  // connecting is not idling
    ssh_event_add_session(event_, upstream_.get());
    up_fd_.assign(ssh_get_fd(upstream_.get()));
    up_callbacks_.userdata = this;
    up_callbacks_.channel_open_request_auth_agent_function = on_agent_open;
    up_callbacks_.channel_open_request_x11_function = on_x11_open;
    ssh_callbacks_init(&up_callbacks_);
    ssh_set_callbacks(upstream_.get(), &up_callbacks_);
    ssh_set_message_callback(upstream_.get(), on_upstream_message, this);
    spdlog::info("{} connected to {} as {} (host key {})", log_prefix_, log_value(target_),
                 log_value(result.login), result.host_key_fingerprint);
    audit_("upstream", "ok",
           {{"target", target_},
            {"login", result.login},
            {"host_key", result.host_key_fingerprint},
            {"auth", policy::to_string(access_.auth)},
            {"session", tap_ ? tap_->id() : "unrecorded"}});
    for (auto& b : bridges_) {
      b->attach(upstream_.get());
    }
    for (auto& f : forwards_) {
      f->attach(upstream_.get());
    }
  }
  wake_();
}

ssh_channel relay::open_session_channel(ssh_session server_session) {
  if (closed_) {
    return nullptr;
  }
  if (!channels_->take()) {
    spdlog::info("{} channel refused: max_sessions {} reached", log_prefix_, channels_->max());
    return nullptr;  // the client sees the open fail (administratively prohibited)
  }
  ssh_channel channel = ssh_channel_new(server_session);
  if (channel == nullptr) {
    channels_->give_back(1);
    return nullptr;
  }
  client_session_ = server_session;
  auto bridge = std::make_unique<channel_bridge>(
      channel, access_, tap_ ? channel_tap(tap_, "session") : channel_tap(), log_prefix_);
  if (!error_.empty()) {
    bridge->fail(error_);
  } else if (upstream_) {
    bridge->attach(upstream_.get());
  }
  bridges_.push_back(std::move(bridge));
  return channel;
}

bool relay::upstream_lost() const {
  return upstream_ && session_closed(upstream_.get());
}

bool relay::check_recording() {
  if (!error_.empty() || !tap_ || !tap_->failed()) {
    return false;
  }
  const std::string failure = tap_->failure();
  spdlog::error("{} recording failed: {}", log_prefix_, log_value(failure));
  audit_("recording", "error", {{"target", target_}, {"reason", failure}});
  end_all(recording_lost(failure));
  return true;
}

bool relay::pump() {
  check_recording();
  if (error_.empty() && upstream_lost()) {
    const std::string reason = "the connection to " + target_ + " was lost";
    spdlog::warn("{} {}", log_prefix_, reason);
    audit_("upstream", "error", {{"target", target_}, {"reason", reason}});
    end_all(reason);
  }
  // -R requests first: a command started on the same pass may connect to what they listen on.
  bool progress = pump_listens();
  // By index: a pump reads the client session, and a channel open that it handles there appends
  // to bridges_ from inside the callback, which would invalidate an iterator.
  for (std::size_t i = 0; i < bridges_.size(); ++i) {
    progress = bridges_[i]->pump() || progress;
    note_forwarding_asks(*bridges_[i]);
  }
  progress = pump_forwards() || progress;
  progress = pump_agent_link() || progress;
  // A bridge that found the recording failed during this pass stopped; tell its client now.
  progress = check_recording() || progress;
  channels_->give_back(drop_finished(bridges_));
  if (progress) {
    last_activity_ = std::chrono::steady_clock::now();
  }
  return progress;
}

void relay::arm(const std::function<void()>& on_ready) {
  if (upstream_ && !upstream_lost()) {
    up_fd_.arm(upstream_.get(), on_ready);
  }
  if (agent_link_) {
    agent_link_->arm(on_ready);
  }
}

void relay::notify(const std::string& text) {
  // By index, as in pump(): a client channel open handled meanwhile appends to bridges_.
  for (std::size_t i = 0; i < bridges_.size(); ++i) {
    bridges_[i]->notify(text);
  }
}

void relay::close(const std::string& reason) {
  closed_ = true;
  active_.reset();
  duration_limit_.cancel();
  idle_check_.cancel();
  linger_.cancel();
  // Channels go before their sessions, and are recorded as closed first; out of the vectors
  // before they are freed (see drop_finished).
  std::exchange(forwards_, {}).clear();
  channels_->give_back(bridges_.size());
  std::exchange(bridges_, {}).clear();
  if (dialer_) {
    dialer_->cancel();
    dialer_.reset();
  }
  agent_link_.reset();  // its last audit rows name the session
  if (tap_) {
    tap_->end(!end_code_.empty() ? end_code_ : error_.empty() ? reason : error_);
    tap_.reset();
  }
  if (upstream_) {
    up_fd_.release();
    ssh_event_remove_session(event_, upstream_.get());
    ssh_disconnect(upstream_.get());
    upstream_.reset();
  }
}

}  // namespace bastion::proxy
