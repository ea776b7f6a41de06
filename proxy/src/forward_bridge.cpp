// Forwarded TCP channels: opening the bastion's side, a window-bounded relay each way that counts
// (or records) what passes and looks at the first bytes, and EOF and close propagation.
#include "forward_bridge.hpp"

#include <cstring>

#include <bastion/common/escape.hpp>
#include <bastion/common/log.hpp>

#include "byte_pump.hpp"
#include "proxy_metrics.hpp"

namespace bastion::proxy {

namespace {

forward_bridge* self_of(void* p) {
  return static_cast<forward_bridge*>(p);
}

}  // namespace

std::string ssh_inside_check::first_bytes(const char* data, std::size_t n, bool allowed,
                                          const std::function<void(bool)>& report) {
  constexpr std::string_view ident = "SSH-";
  if (std::memcmp(data, ident.data(), std::min(n, ident.size())) != 0) {
    return {};
  }
  if (report && !reported_) {
    reported_ = true;  // whichever side spoke first
    report(allowed);
  }
  return allowed ? std::string()
                 : "the forward carries an SSH connection, which would bypass the recording; "
                   "connect to that host through the bastion instead (ssh -J)";
}

forward_bridge::forward_bridge(kind k, forward_endpoint where, channel_tap tap, forward_rules rules,
                               std::string log_prefix)
    : kind_(k),
      where_(std::move(where)),
      tap_(std::move(tap)),
      rules_(std::move(rules)),
      log_prefix_(std::move(log_prefix) + " forward=" +
                  (k == kind::agent ? std::string("agent")
                   : k == kind::x11 ? std::string("x11")
                                    : log_value(where_.host + ":" + std::to_string(where_.port)))) {
  nlohmann::json detail = {{"data_recorded", rules_.record_data}};
  if (k != kind::agent) {
    detail["origin_host"] = where_.origin_host;
    detail["origin_port"] = where_.origin_port;
  }
  if (k == kind::local || k == kind::remote) {
    detail["host"] = where_.host;
    detail["port"] = where_.port;
  }
  tap_.forward(detail);
}

std::unique_ptr<forward_bridge> forward_bridge::local(ssh_channel client, forward_endpoint where,
                                                      channel_tap tap, forward_rules rules,
                                                      std::string log_prefix) {
  std::unique_ptr<forward_bridge> b(new forward_bridge(
      kind::local, std::move(where), std::move(tap), std::move(rules), std::move(log_prefix)));
  b->client_.channel.reset(client);
  b->watch(b->client_);
  return b;
}

std::unique_ptr<forward_bridge> forward_bridge::toward_client(kind k, ssh_session client_session,
                                                              ssh_channel target,
                                                              forward_endpoint where,
                                                              channel_tap tap, forward_rules rules,
                                                              std::string log_prefix) {
  std::unique_ptr<forward_bridge> b(new forward_bridge(k, std::move(where), std::move(tap),
                                                       std::move(rules), std::move(log_prefix)));
  b->target_.channel.reset(target);
  b->watch(b->target_);
  // A forwarded-tcpip channel was accepted from libssh's queue of channel opens: what reached it
  // before its callbacks did is already noted in its state. Agent and X11 channels come from
  // libssh's open callback, before it accepts them: not open yet, and nothing has arrived.
  if (k == kind::remote) {
    b->target_.eof = ssh_channel_is_eof(target) != 0;
    b->target_.closed = ssh_channel_is_closed(target) != 0;
  }
  b->client_.channel.reset(ssh_channel_new(client_session));
  if (!b->client_.channel) {
    b->fail("the bastion could not make a channel toward the client");
    return b;
  }
  b->watch(b->client_);
  b->start_opening();
  return b;
}

// libssh keeps a locally freed channel until the peer closes it too, and would still call our
// callbacks with a dangling userdata: unregister them first.
forward_bridge::~forward_bridge() {
  for (side* s : {&client_, &target_}) {
    if (s->channel) {
      ssh_remove_channel_callbacks(s->channel.get(), &s->callbacks);
    }
  }
}

void forward_bridge::watch(side& s) {
  s.callbacks.userdata = this;
  s.callbacks.channel_data_function = on_data;
  s.callbacks.channel_eof_function = on_eof;
  s.callbacks.channel_close_function = on_close;
  ssh_callbacks_init(&s.callbacks);
  ssh_set_channel_callbacks(s.channel.get(), &s.callbacks);
  s.waiting = true;  // data that came before the callbacks were set waits in its buffer
}

void forward_bridge::attach(ssh_session upstream) {
  if (kind_ != kind::local || target_.channel || finished_ || !failure_.empty()) {
    return;
  }
  target_.channel.reset(ssh_channel_new(upstream));
  if (!target_.channel) {
    return fail("the bastion could not make a channel toward the target");
  }
  watch(target_);
  start_opening();
}

void forward_bridge::start_opening() {
  opening_ = true;
  open_deadline_ = std::chrono::steady_clock::now() + rules_.open_timeout;
}

void forward_bridge::fail(const std::string& reason) {
  if (failure_.empty()) {
    failure_ = reason;
  }
}

// In non-blocking mode each open returns SSH_AGAIN until the peer answers, and is repeated with
// the same arguments. A forwarded-tcpip open names the address exactly as the client bound it
// ("localhost" is not "127.0.0.1"), or the client finds no forward to match it.
bool forward_bridge::open_pending() {
  ssh_channel client = client_.channel.get();
  const char* origin = where_.origin_host.c_str();
  int rc = SSH_ERROR;
  switch (kind_) {
    case kind::local:
      rc = ssh_channel_open_forward(target_.channel.get(), where_.host.c_str(), where_.port, origin,
                                    where_.origin_port);
      break;
    case kind::remote:
      rc = ssh_channel_open_reverse_forward(client, where_.host.c_str(), where_.port, origin,
                                            where_.origin_port);
      break;
    case kind::agent:
      rc = ssh_channel_open_auth_agent(client);
      break;
    case kind::x11:
      rc = ssh_channel_open_x11(client, origin, where_.origin_port);
      break;
  }
  if (rc == SSH_AGAIN) {
    return false;
  }
  opening_ = false;
  if (rc != SSH_OK) {
    fail(kind_ == kind::local ? "the target could not connect to the destination"
                              : "the client refused the forwarded connection");
  }
  return true;
}

// The first bytes from a side say what the forward carries. An SSH connection inside it would
// run a session that the bastion neither sees nor records.
bool forward_bridge::check_first_bytes(side& from, const char* data, std::size_t n) {
  from.first = false;
  const std::string cut = ssh_inside_.first_bytes(data, n, rules_.ssh_inside, rules_.on_ssh_inside);
  if (!cut.empty()) {
    fail(cut);
    return false;
  }
  return true;
}

bool forward_bridge::relay(side& from, side& to, recorder::stream what) {
  if (!from.waiting && from.carry.empty()) {
    return false;
  }
  ssh_channel src = from.channel.get();
  ssh_channel dst = to.channel.get();
  const auto room = [this, dst]() -> std::size_t {
    const std::size_t window = ssh_channel_window_size(dst);
    return rules_.record_data ? std::min(window, tap_.room()) : window;
  };
  std::size_t moved = 0;
  const bool progress = pump_bytes(
      room,
      [src, &from](char* buf, std::size_t n) -> long {
        const int r = ssh_channel_read_nonblocking(src, buf, static_cast<uint32_t>(n), 0);
        if (r <= 0) {
          from.waiting = false;  // drained; the next packet sets it again
        }
        return r;
      },
      [&](const char* data, std::size_t n) -> std::size_t {
        if (!failure_.empty() || tap_.failed() ||
            (from.first && rules_.inspect && !check_first_bytes(from, data, n))) {
          return 0;
        }
        const int wr = ssh_channel_write(dst, data, static_cast<uint32_t>(n));
        const std::size_t taken = wr < 0 ? 0 : static_cast<std::size_t>(wr);
        if (rules_.record_data) {
          tap_.data(what, data, taken);
        } else {
          tap_.count(what, taken);
        }
        moved += taken;
        return taken;
      },
      from.carry);
  if (moved > 0) {
    const auto& m = proxy_metrics::get();
    (what == recorder::stream::input ? m.bytes_to_target : m.bytes_to_client)
        .Increment(static_cast<double>(moved));
  }
  return progress;
}

// Flags first, buffers second: ssh_channel_poll may process packets, and data it read after a
// check would be lost. Once EOF or close has arrived, nothing more comes on that channel.
bool forward_bridge::drained(side& s) const {
  return s.carry.empty() && ssh_channel_poll(s.channel.get(), 0) <= 0;
}

bool forward_bridge::propagate_end(side& from, side& to) {
  if (from.eof && !to.eof_sent && drained(from)) {
    ssh_channel_send_eof(to.channel.get());
    to.eof_sent = true;
    tap_.eof(&from == &client_ ? recorder::stream::input : recorder::stream::output);
    return true;
  }
  return false;
}

void forward_bridge::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  if (!failure_.empty()) {
    spdlog::info("{} ended: {}", log_prefix_, log_value(failure_));
  }
  tap_.close();
  for (side* s : {&client_, &target_}) {
    if (s->channel && ssh_channel_is_open(s->channel.get()) != 0) {
      ssh_channel_close(s->channel.get());
    }
  }
}

bool forward_bridge::pump() {
  if (finished_) {
    return false;
  }
  if (callback_failed_) {
    callback_failed_ = false;
    fail("the bastion failed to handle this forward (see its log)");
  }
  if (opening_) {
    return pump_opening();
  }
  // Either side that gives up before the forward is open ends it: there is nothing to deliver.
  const bool open = client_.channel && target_.channel;
  if (!failure_.empty() || (!open && (client_.closed || target_.closed))) {
    finish();
    return true;
  }
  if (!open) {
    return false;  // local, before the upstream session exists
  }
  bool progress = relay(client_, target_, recorder::stream::input);
  progress = relay(target_, client_, recorder::stream::output) || progress;
  if (!failure_.empty()) {
    finish();
    return true;
  }
  progress = propagate_end(client_, target_) || progress;
  progress = propagate_end(target_, client_) || progress;
  if ((client_.closed && drained(client_)) || (target_.closed && drained(target_))) {
    finish();
    return true;
  }
  return progress;
}

// Until the peer answers the open, the channel being opened stays: libssh frees a channel that is
// not open yet at once, and the answer would then name an unknown channel (an error on that
// session) while the peer's side stayed open. A forward given up meanwhile (its accepted side
// closed, a failure, no answer within open_timeout) closes the accepted side now, and the other
// once it is answered (the next pump() finishes it); until then it counts in limits.max_forwards.
bool forward_bridge::pump_opening() {
  bool progress = open_pending();
  if (!opening_) {
    return true;
  }
  if (failure_.empty() && std::chrono::steady_clock::now() >= open_deadline_) {
    fail(kind_ == kind::local ? "the target did not answer the forward's open in time"
                              : "the client did not answer the forwarded channel's open in time");
  }
  side& accepted = kind_ == kind::local ? client_ : target_;
  if ((!failure_.empty() || accepted.closed) && !abandoned_) {
    abandoned_ = true;
    if (ssh_channel_is_open(accepted.channel.get()) != 0) {
      ssh_channel_close(accepted.channel.get());
    }
    progress = true;
  }
  return progress;
}

int forward_bridge::on_data(ssh_session, ssh_channel channel, void*, uint32_t, int, void* self) {
  self_of(self)->side_of(channel).waiting = true;
  return 0;  // nothing taken here: pump() reads it
}

void forward_bridge::on_eof(ssh_session, ssh_channel channel, void* self) {
  self_of(self)->side_of(channel).eof = true;
}

void forward_bridge::on_close(ssh_session, ssh_channel channel, void* self) {
  self_of(self)->side_of(channel).closed = true;
}

}  // namespace bastion::proxy
