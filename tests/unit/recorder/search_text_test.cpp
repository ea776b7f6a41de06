// Search text: the line editor that replays typed keys, and the extractor that turns a session's
// events into documents of lines with their moments.
#include <gtest/gtest.h>

#include <set>

#include <bastion/recorder/search_text.hpp>

namespace bastion::recorder {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> typed(std::string_view keys) {
  line_editor editor;
  std::vector<std::string> done;
  editor.feed(keys, done);
  return done;
}

TEST(line_editor, applies_backspace_kill_and_word_erase) {
  EXPECT_EQ(typed("ls -k\x7fl\r"), std::vector<std::string>{"ls -l"});
  EXPECT_EQ(typed("ls -k\bl\r"), std::vector<std::string>{"ls -l"});
  EXPECT_EQ(typed("rm -rf /\x15uptime\r"), std::vector<std::string>{"uptime"});
  EXPECT_EQ(typed("echo wrong\x17right\r"), std::vector<std::string>{"echo right"});
  EXPECT_EQ(typed("secret\x03whoami\r"), std::vector<std::string>{"whoami"});
  EXPECT_EQ(typed("\r  \r\n"), std::vector<std::string>{});
}

TEST(line_editor, moves_the_cursor_with_arrows_home_and_end) {
  // "cat fle", left twice, insert 'i': "cat file".
  EXPECT_EQ(typed("cat fle\x1b[D\x1b[Di\r"), std::vector<std::string>{"cat file"});
  EXPECT_EQ(typed("cat fle\x1bOD\x1bODi\r"), std::vector<std::string>{"cat file"});
  // Home, then "sudo "; End, then " now".
  EXPECT_EQ(typed("reboot\x1b[Hsudo \x1b[F now\r"), std::vector<std::string>{"sudo reboot now"});
  EXPECT_EQ(typed("reboot\x01sudo \x05!\r"), std::vector<std::string>{"sudo reboot!"});
  // Delete under the cursor, ^K to the end, Alt-Backspace a word.
  EXPECT_EQ(typed("abXc\x1b[D\x1b[D\x1b[3~\r"), std::vector<std::string>{"abc"});
  EXPECT_EQ(typed("keep drop\x1b[D\x1b[D\x1b[D\x1b[D\x0b\r"), std::vector<std::string>{"keep "});
  EXPECT_EQ(typed("one two\x1b\x7f\r"), std::vector<std::string>{"one "});
}

TEST(line_editor, handles_utf8_paste_and_bounds) {
  EXPECT_EQ(typed("caf\xc3\xa9\x7f"
                  "e\r"),
            std::vector<std::string>{"cafe"});
  EXPECT_EQ(typed("\x1b[200~echo a\recho b\x1b[201~\r"),
            (std::vector<std::string>{"echo a", "echo b"}));
  const auto long_line = typed(std::string(10000, 'x') + "\r");
  ASSERT_EQ(long_line.size(), 1u);
  EXPECT_EQ(long_line[0].size(), line_editor::max_line);
}

event ev(event_type type, std::uint32_t channel, std::chrono::microseconds at, std::string data,
         stream dir = stream::output) {
  event e;
  e.type = type;
  e.channel = channel;
  e.offset = at;
  e.data = std::move(data);
  e.stream = dir;
  return e;
}

TEST(search_extractor, finds_commands_typed_lines_and_printed_text_with_their_moments) {
  search_extractor x;
  x.add(ev(event_type::channel_open, 0, 0us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 0, 1us, R"({"request":"pty-req","term":"xterm"})"));
  x.add(ev(event_type::channel_request, 0, 2us, R"({"request":"shell"})"));
  x.add(ev(event_type::data, 0, 100us, "\x1b[1;32m$ \x1b[0m"));
  x.add(ev(event_type::data, 0, 2000us, "uname -z", stream::input));
  x.add(ev(event_type::data, 0, 3000us,
           "\x7f"
           "a\r",
           stream::input));
  x.add(ev(event_type::data, 0, 3100us, "uname -z\b \ba\r\nLinux\r\n"));
  x.add(ev(event_type::channel_open, 1, 4000us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 1, 5000us, R"({"request":"exec","command":"id -u"})"));
  x.add(ev(event_type::data, 1, 6000us, "0\n"));
  const auto docs = x.take(6000us, true);
  ASSERT_EQ(docs.size(), 2u);
  const auto& input = docs[0].kind == text_kind::input ? docs[0] : docs[1];
  const auto& output = docs[0].kind == text_kind::output ? docs[0] : docs[1];
  EXPECT_EQ(input.text, "uname -a\nid -u\n");
  EXPECT_EQ(input.marks, (std::vector<line_mark>{{0, 3000us, 0}, {9, 5000us, 1}}));
  EXPECT_EQ(output.text, "$ uname -a\nLinux\n0\n");
  EXPECT_EQ(output.marks[0], (line_mark{0, 3100us, 0}));  // the echo line ends at Enter's echo
  EXPECT_EQ(output.marks[1], (line_mark{11, 3100us, 0}));
  EXPECT_EQ(output.marks[2], (line_mark{17, 6000us, 1}));
  ASSERT_NE(mark_at(output, 12), nullptr);
  EXPECT_EQ(mark_at(output, 12)->offset, 3100us);
  EXPECT_EQ(parse_marks(format_marks(output.marks)), output.marks);
  EXPECT_TRUE(parse_marks("1:2").empty());
}

std::string all_text(const std::vector<search_document>& docs, text_kind kind) {
  std::string out;
  for (const auto& d : docs) {
    if (d.kind == kind) {
      out += d.text;
    }
  }
  return out;
}

search_extractor terminal() {
  search_extractor x;
  x.add(ev(event_type::channel_open, 0, 0us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 0, 0us, R"({"request":"pty-req","term":"xterm"})"));
  return x;
}

TEST(search_extractor, never_indexes_what_a_prompt_did_not_echo) {
  auto x = terminal();
  x.add(ev(event_type::data, 0, 1000us, "$ "));
  x.add(ev(event_type::data, 0, 2000us, "sudo -k true\r", stream::input));
  x.add(ev(event_type::data, 0, 2100us, "sudo -k true\r\n[sudo] password for alice: "));
  x.add(ev(event_type::data, 0, 3000us, "hunter2-secret\r", stream::input));
  x.add(ev(event_type::data, 0, 3100us, "\r\n$ "));
  const auto docs = x.take(3100us, true);
  EXPECT_EQ(all_text(docs, text_kind::input), "sudo -k true\n");
  EXPECT_EQ(all_text(docs, text_kind::output).find("hunter2"), std::string::npos);
}

TEST(search_extractor, reads_echoes_and_redraws_as_the_screen_shows_them) {
  auto x = terminal();
  // readline: "cat fle", two lefts (echoed \b\b), 'i' redraws "ile" and moves back.
  x.add(ev(event_type::data, 0, 1000us, "cat fle\x1b[D\x1b[Di\r", stream::input));
  x.add(ev(event_type::data, 0, 1100us, "$ cat fle\b\bile\b\b\x1b[D\x1b[C\x1b[C\x1b[C\r\n"));
  // A progress bar that redraws itself, a title (OSC) and a colour, split across events.
  x.add(ev(event_type::data, 0, 2000us, "10%\r50%\r100% done\x1b]0;ti"));
  x.add(ev(event_type::data, 0, 2100us, "tle\x07 \x1b[1;3"));
  x.add(ev(event_type::data, 0, 2200us, "2mok\x1b[0m\r\n"));
  // Full-screen drawing is not lines of output.
  x.add(ev(event_type::data, 0, 3000us, "\x1b[2J\x1b[1;1Hvim row\x1b[2;1Hrow two\x1b[3;1H"));
  const auto docs = x.take(3000us, true);
  EXPECT_EQ(all_text(docs, text_kind::input), "cat file\n");
  EXPECT_EQ(all_text(docs, text_kind::output), "$ cat file\n100% done ok\n");
}

TEST(search_extractor, leaves_out_transfers_binary_output_and_forwards) {
  search_extractor x;
  x.add(ev(event_type::channel_open, 0, 0us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 0, 1us, R"({"request":"subsystem","subsystem":"sftp"})"));
  x.add(ev(event_type::data, 0, 2us, "sftp-bytes\n"));
  x.add(ev(event_type::channel_open, 1, 3us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 1, 4us, R"({"request":"exec","command":"scp -t /tmp"})"));
  x.add(ev(event_type::data, 1, 5us, "file contents\n", stream::input));
  x.add(ev(event_type::channel_open, 2, 6us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 2, 7us, R"({"request":"exec","command":"cat blob"})"));
  x.add(ev(event_type::data, 2, 8us, std::string("text\nbin\0ary\nmore\n", 18)));
  x.add(ev(event_type::channel_open, 3, 9us, R"({"kind":"direct-tcpip"})"));
  x.add(ev(event_type::data, 3, 10us, "GET / HTTP/1.1\r\n"));
  const auto docs = x.take(10us, true);
  std::string all;
  for (const auto& d : docs) {
    all += d.text;
  }
  EXPECT_EQ(all.find("sftp-bytes"), std::string::npos);
  EXPECT_EQ(all.find("file contents"), std::string::npos);
  EXPECT_EQ(all.find("GET /"), std::string::npos);
  EXPECT_EQ(all.find("more"), std::string::npos);
  EXPECT_NE(all.find("scp -t /tmp"), std::string::npos);  // the command itself is searchable
  EXPECT_NE(all.find("text\n"), std::string::npos);
}

TEST(search_extractor, cuts_documents_by_size_and_age_and_keeps_its_budget) {
  search_extractor::limits l;
  l.document_bytes = 100;
  l.output_bytes = 1000;
  l.max_age = 10s;
  search_extractor x(l);
  x.add(ev(event_type::channel_open, 0, 0us, R"({"kind":"session"})"));
  x.add(ev(event_type::channel_request, 0, 0us, R"({"request":"exec","command":"yes"})"));
  for (int i = 0; i < 300; ++i) {
    x.add(ev(event_type::data, 0, std::chrono::microseconds(i),
             "y-line-" + std::to_string(i) + "\n"));
  }
  const auto full = x.take(300us, false);
  ASSERT_FALSE(full.empty());
  for (const auto& d : full) {
    EXPECT_GE(d.text.size(), 100u);
    EXPECT_LT(d.text.size(), 100u + 16);
  }
  // What is left waits for its age (10 s), or for the end.
  EXPECT_TRUE(x.take(1s, false).empty());
  const auto aged = x.take(11s, false);
  EXPECT_TRUE(std::any_of(aged.begin(), aged.end(), [](const search_document& d) {
    return d.kind == text_kind::input && d.text == "yes\n";
  }));
  std::string all;
  std::set<std::uint32_t> seqs;
  for (const auto* docs : {&full, &aged}) {
    for (const auto& d : *docs) {
      all += d.text;
      seqs.insert(d.seq);
    }
  }
  EXPECT_EQ(seqs.size(), full.size() + aged.size());
  EXPECT_LE(all.size(), 1000u + 4);  // the output budget, and "yes\n"
  EXPECT_NE(all.find("y-line-0\n"), std::string::npos);
  EXPECT_EQ(all.find("y-line-299"), std::string::npos);
  EXPECT_LE(x.indexed_bytes(), 1004u);
}

}  // namespace
}  // namespace bastion::recorder
