// Session search through the API and bastionctl: a command typed at a prompt (its typo fixed with
// Backspace) and one run as exec are found, each at the moment the recording holds for it, and
// what the index costs per recorded MB is measured.
#include <cmath>

#include <bastion/recorder/export.hpp>
#include <bastion/recorder/reader.hpp>

#include "admin_api_support.hpp"
#include "target_support.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;
using recorder::event;
using recorder::event_type;

class admin_search : public with_admin_api<proxy_session> {
 protected:
  bool ended(const std::string& id) const {
    return count_rows("sessions WHERE id = '" + id + "' AND ended_at IS NOT NULL") == 1;
  }
  // The first event of session `id`'s recording that `pick` accepts: its offset, in µs.
  std::int64_t offset_of(const std::string& id,
                         const std::function<bool(const event&)>& pick) const {
    const auto sid = recorder::parse_session_id(id);
    auto reader =
        recorder::recording_reader::open(recording_dir() / recorder::recording_file_name(*sid));
    EXPECT_TRUE(reader) << reader.error().text;
    if (!reader) {
      return -1;
    }
    const auto report = reader->verify(std::nullopt, true);
    std::int64_t found = -1;
    EXPECT_TRUE(recorder::for_each_event(*reader, report, 0us, [&](const event& ev) {
      if (pick(ev)) {
        found = ev.offset.count();
        return false;
      }
      return true;
    }));
    return found;
  }
  // The API's hits for `q` (URL-encoded by the caller).
  nlohmann::json hits(const std::string& q) const {
    const auto r = get("/api/v1/search?q=" + q);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.doc.value("hits", nlohmann::json::array());
  }
  static std::int64_t micros(const nlohmann::json& hit) {
    return std::llround(hit.value("offset", -1.0) * 1e6);
  }
};

TEST_F(admin_search, finds_a_corrected_typed_command_and_an_exec_at_their_moments) {
  {
    keyboard_session user(ssh_argv(login() + "@t1", {alice_key_}, {"-q", "-tt"}, ""), dir().path(),
                          (dir() / "typed.log").string());
    std::this_thread::sleep_for(1s);  // the command comes a moment into the session
    // "typx", Backspace, "ed": what ran is find-me-typed-..., never "typx".
    ASSERT_TRUE(
        user.type("echo find-me-typx\x7f"
                  "ed-$((6 * 7))\r"));
    ASSERT_TRUE(eventually([&] {
      return read_file((dir() / "typed.log").string()).find("find-me-typed-42") !=
             std::string::npos;
    }));
    ASSERT_TRUE(user.type("exit\r"));
    EXPECT_EQ(user.client().wait_exit(20s), std::optional<int>(0));
  }
  const std::string typed = session_where("true");
  const auto ran = exec(login() + "@t1", "sleep 0.3; echo exec-$((6 * 7))-marker");
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const std::string exec_session = session_where("id <> '" + typed + "'");
  ASSERT_TRUE(eventually([&] { return ended(typed) && ended(exec_session); }));
  ASSERT_TRUE(eventually([&] { return count_rows("search_documents") >= 3; }));

  // The typed line, edited as the shell edited it, at the moment Enter was pressed.
  const auto enter = offset_of(typed, [](const event& ev) {
    return ev.type == event_type::data && ev.stream == recorder::stream::input &&
           ev.data.find('\r') != std::string::npos;
  });
  ASSERT_GT(enter, 500'000);
  auto found = hits("find-me-TYPED-%24%28%286");  // case-insensitive; "$((6"
  ASSERT_FALSE(found.empty());
  const auto input =
      std::find_if(found.begin(), found.end(), [](const auto& h) { return h["kind"] == "input"; });
  ASSERT_NE(input, found.end()) << found;
  EXPECT_EQ((*input)["line"], "echo find-me-typed-$((6 * 7))");
  EXPECT_EQ((*input)["session"]["id"], typed);
  EXPECT_EQ(micros(*input), enter);
  EXPECT_TRUE(hits("find-me-typx").empty()) << "the typo was corrected before Enter";

  // The exec command, at its request; its output, when it was printed.
  const auto request = offset_of(exec_session, [](const event& ev) {
    return ev.type == event_type::channel_request && ev.data.find("\"exec\"") != std::string::npos;
  });
  found = hits("exec-%24%28%286");
  ASSERT_EQ(found.size(), 1u) << found;
  EXPECT_EQ(found[0]["kind"], "input");
  EXPECT_EQ(found[0]["session"]["id"], exec_session);
  EXPECT_EQ(micros(found[0]), request);
  const auto printed = offset_of(exec_session, [](const event& ev) {
    return ev.type == event_type::data && ev.data.find("exec-42-marker") != std::string::npos;
  });
  found = hits("exec-42-marker");
  ASSERT_EQ(found.size(), 1u) << found;
  EXPECT_EQ(found[0]["kind"], "output");
  EXPECT_EQ(micros(found[0]), printed);
  EXPECT_GE(printed - request, 250'000);

  // bastionctl finds the same, as JSON and as a table.
  const auto cli = json({"search", "find-me-typed-$((6", "--limit", "5"});
  ASSERT_TRUE(cli.is_array());
  EXPECT_TRUE(std::any_of(cli.begin(), cli.end(), [&](const auto& h) {
    return h["kind"] == "input" && std::llround(h["offset"].template get<double>() * 1e6) == enter;
  })) << cli;
  EXPECT_CONTAINS(ok({"search", "exec-42-marker"}), exec_session);
  // A search too short for the index, or with no token, is refused with the reason.
  const auto short_q = get("/api/v1/search?q=ab");
  EXPECT_EQ(short_q.status, 400);
  EXPECT_CONTAINS(short_q.doc.value("detail", ""), "3 to 200 bytes");
  EXPECT_EQ(call("GET", "/api/v1/search?q=exec", "").status, 401);
  EXPECT_EQ(get("/api/v1/search?q=exec&bogus=1").status, 400);
  const auto none = ctl({"search", "xy"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_CONTAINS(none.err, "3 to 200 bytes");
}

TEST_F(admin_search, states_what_the_index_costs_per_recorded_megabyte) {
  // Terminal text as admins see it: file listings and package lists, 2 MB or more.
  const auto ran = run(ssh_argv(login() + "@t1", {alice_key_}, {"-q", "-tt"},
                                "find /usr -xdev 2>/dev/null | head -n 40000; "
                                "dpkg -l | head -n 3000; ls -l /usr/bin | head -n 3000"));
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const std::string id = session_where("true");
  ASSERT_TRUE(eventually([&] { return ended(id); }));
  ASSERT_TRUE(eventually([&] {
    return count_rows("search_documents WHERE session_id = '" + id + "'") > 0 &&
           get("/api/v1/sessions/" + id).doc["bytes_raw"].get<std::uint64_t>() > 0;
  }));
  // The journal writes the documents as their chunks are durable: wait until no more come.
  int docs = -1;
  ASSERT_TRUE(eventually(
      [&] {
        const int before = docs;
        docs = count_rows("search_documents WHERE session_id = '" + id + "'");
        std::this_thread::sleep_for(2s);
        return docs == before;
      },
      60s));
  postgres_cluster::instance().psql(dbname_, "VACUUM ANALYZE search_documents");
  const auto bytes = [&](const std::string& sql) {
    return std::stod(postgres_cluster::instance().psql(dbname_, sql));
  };
  const auto session = get("/api/v1/sessions/" + id).doc;
  const double recorded = session["bytes_raw"].get<double>();
  const double stored = session["bytes_stored"].get<double>();
  const double total = bytes("SELECT pg_total_relation_size('search_documents')");
  const double table = bytes("SELECT pg_table_size('search_documents')");
  const double index = bytes("SELECT pg_relation_size('search_documents_body')");
  const double text = bytes("SELECT sum(octet_length(body)) FROM search_documents");
  std::cout << "search index: " << recorded / 1e6 << " MB recorded (" << stored / 1e6
            << " MB stored), " << text / 1e6 << " MB of text indexed; in PostgreSQL " << total / 1e6
            << " MB (table " << table / 1e6 << ", trigram index " << index / 1e6
            << "): " << total / recorded << " bytes per recorded byte, " << total / stored
            << " per stored byte\n";
  EXPECT_GT(recorded, 2e6);
  EXPECT_GT(text, 0.5 * 2e6);
  EXPECT_LT(total / recorded, 3.0) << "the index costs more than three times the recording";
  // Found, from the last lines printed.
  EXPECT_FALSE(hits("usr%2Fbin").empty());
}

}  // namespace
}  // namespace bastion::test
