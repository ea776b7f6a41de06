// The recording taps. Every byte and event that crosses a channel bridge goes through a
// channel_tap, which stamps it with its offset from the session start and queues it for the
// recorder's writer thread; the session's rows (sessions, channels, recordings) go to the journal.
// Neither ever blocks the strand. A session is recorded from the moment policy lets it run; a
// refused one has no session_tap, and its bridges an inert channel_tap. Internal to proxy/.
#pragma once

#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include <bastion/policy/journal.hpp>
#include <bastion/recorder/service.hpp>

namespace bastion::proxy {

using policy::session_identity;

class session_tap {
 public:
  // Starts the recording and queues the session's row.
  session_tap(recorder::recording_service& recorder, policy::journal& journal,
              const std::string& node, const session_identity& who);
  // A session that was never ended explicitly ends here.
  ~session_tap();
  session_tap(const session_tap&) = delete;
  session_tap& operator=(const session_tap&) = delete;

  const std::string& id() const { return id_text_; }
  // The recording cannot be persisted under fail_closed: the session must end.
  bool failed() const { return recording_->failed(); }
  std::string failure() const { return recording_->failure(); }
  // How many bytes may pass now (recorder::session_recording::room): 0 holds data back, and
  // `wake` (set by on_room) runs on the writer thread once there may be room again.
  std::size_t room() { return recording_->room(); }
  void on_room(std::function<void()> wake) { recording_->on_room(std::move(wake)); }
  // Records the end; the journal gets the row once the last chunk is durable.
  void end(const std::string& reason);

  // For channel_tap: a new channel number, and one event stamped with the current offset.
  std::uint32_t next_channel() { return next_channel_++; }
  void record(recorder::event ev);
  void journal(policy::journal_entry entry) { journal_.record(std::move(entry)); }
  static std::int64_t unix_us_now();

 private:
  policy::journal& journal_;
  std::shared_ptr<recorder::session_recording> recording_;
  std::string id_text_;
  std::chrono::steady_clock::time_point started_;
  std::uint32_t next_channel_ = 0;
  bool ended_ = false;
};

class channel_tap {
 public:
  channel_tap() = default;  // records nothing
  channel_tap(std::shared_ptr<session_tap> session, std::string kind);
  ~channel_tap();
  channel_tap(channel_tap&&) = default;
  channel_tap& operator=(channel_tap&&) = default;

  // A request the client made and policy let through: "pty-req", "env", "shell", "exec",
  // "subsystem", with its fields.
  void request(const nlohmann::json& detail);
  void data(recorder::stream s, const char* bytes, std::size_t n);
  // A port forward's destination and originator ({"host", "port", "origin_host", ...}): the row's
  // detail, and an event at its open.
  void forward(const nlohmann::json& detail);
  // Bytes that crossed without being recorded (a forward's, by default): the row counts them.
  void count(recorder::stream s, std::size_t n) {
    (s == recorder::stream::input ? row_.bytes_in : row_.bytes_out) += n;
  }
  void window_change(int cols, int rows);
  void signal(const std::string& name);
  void eof(recorder::stream from);
  void exit_status(int code);
  void exit_signal(const std::string& name);
  // Records the close and writes the channel's row; later calls record nothing.
  void close();
  // Data may pass only while this is false (fail_closed).
  bool failed() const { return session_ && session_->failed(); }
  std::size_t room() {
    return session_ ? session_->room() : std::numeric_limits<std::size_t>::max();
  }

 private:
  void record(recorder::event ev);

  std::shared_ptr<session_tap> session_;
  policy::channel_row row_;
  nlohmann::json detail_ = nlohmann::json::object();  // the row's detail, dumped at close
};

}  // namespace bastion::proxy
