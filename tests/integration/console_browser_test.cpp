// The web console in a real browser (headless Chromium through chromedriver): an admin signs in
// with a token, finds a recorded session in the list, replays it and sees its output, seeks back,
// watches a live session receive a line that the test types, and ends it. Screenshots of each
// step are kept in the build tree's test-artefacts/console/.
#include "admin_api_support.hpp"
#include "build_paths.hpp"
#include "target_support.hpp"
#include "webdriver.hpp"

namespace bastion::test {
namespace {

using namespace std::chrono_literals;

std::function<bool(const std::string&)> shows(const std::string& part) {
  return [part](const std::string& text) { return text.find(part) != std::string::npos; };
}

class console_browser : public with_admin_api<proxy_session> {
 protected:
  std::string page(const std::string& hash = "") const {
    return "http://127.0.0.1:" + std::to_string(admin_port_) + "/" + hash;
  }
  static std::filesystem::path artefact(const std::string& name) {
    return std::filesystem::path(bastion::test::artefacts_dir()) / "console" / name;
  }
  void sign_in(webdriver& browser) {
    browser.go(page());
    ASSERT_TRUE(browser.wait_for("#login")) << browser.diagnose(artefact("failure.png"));
    // A wrong token is refused with the API's reason, and the form stays.
    ASSERT_TRUE(browser.type("#token", "bst_" + std::string(43, 'A')));
    ASSERT_TRUE(browser.click("#login button[type=submit]"));
    EXPECT_TRUE(browser.wait_for("#login-error", shows("not known")))
        << browser.diagnose(artefact("failure.png"));
    ASSERT_TRUE(browser.type("#token", token_));
    ASSERT_TRUE(browser.click("#login button[type=submit]"));
    EXPECT_TRUE(browser.wait_for("#who", shows("carol")));
  }
};

TEST_F(console_browser, an_admin_replays_seeks_watches_and_ends_sessions) {
  // A recorded session: a first line, two seconds, the screen cleared, a second line.
  const auto recorded = run(ssh_argv(login() + "@t1", {alice_key_}, {"-q", "-tt"},
                                     "echo replay-$((6 * 7))-first; sleep 2; "
                                     "printf '\\033[2J\\033[H'; echo replay-$((6 * 7))-second"));
  ASSERT_EQ(recorded.exit_code, 0) << recorded.err;
  const std::string replayed = session_where("true");
  ASSERT_FALSE(replayed.empty());
  ASSERT_TRUE(
      eventually([&] { return get("/api/v1/sessions/" + replayed).doc["ended_at"].is_string(); }));

  std::filesystem::remove_all(artefact(""));  // this run's screenshots only
  webdriver browser(dir() / "browser");
  sign_in(browser);
  const std::string row = "tr[data-session='" + replayed + "']";
  ASSERT_TRUE(browser.wait_for(row, shows(login() + "@t1")));
  browser.screenshot(artefact("sessions.png"));

  // The replay plays to its end: the second line, on a cleared screen.
  ASSERT_TRUE(browser.click(row + " a"));
  const auto played = browser.wait_for(".ap-term-text", shows("replay-42-second"), 30s);
  ASSERT_TRUE(played) << "the player never showed the recording's end\n"
                      << browser.diagnose(artefact("failure.png"));
  EXPECT_EQ(played->find("replay-42-first"), std::string::npos) << *played;
  browser.screenshot(artefact("replay.png"));
  // Seeking to 1 s shows the screen as it was then: the first line, not yet cleared.
  ASSERT_TRUE(browser.type("#seek-to", "1"));
  ASSERT_TRUE(browser.click("#seek"));
  const auto sought = browser.wait_for(".ap-term-text", [](const std::string& text) {
    return text.find("replay-42-first") != std::string::npos &&
           text.find("replay-42-second") == std::string::npos;
  });
  EXPECT_TRUE(sought) << browser.wait_for(".ap-term-text").value_or("(no terminal)");
  browser.screenshot(artefact("replay-seek.png"));

  // Search finds the second line; its hit opens the replay at that moment.
  ASSERT_TRUE(eventually([&] { return count_rows("search_documents") > 0; }));
  ASSERT_TRUE(browser.type("#search", std::string("replay-42-second") + "\ue007"));  // Enter
  ASSERT_TRUE(browser.wait_for("#hits tr[data-kind='output'] a.hit"))
      << browser.diagnose(artefact("failure.png"));
  browser.screenshot(artefact("search.png"));
  ASSERT_TRUE(browser.click("#hits tr[data-kind='output'] a.hit"));
  EXPECT_TRUE(browser.wait_for(".ap-term-text", shows("replay-42-second")))
      << browser.diagnose(artefact("failure.png"));

  // A live session, with a keyboard that the test types into.
  keyboard_session user(ssh_argv(login() + "@t1", {alice_key_}, {"-q", "-tt"}, ""), dir().path(),
                        (dir() / "client.log").string());
  std::string live;
  ASSERT_TRUE(eventually([&] { return !(live = session_where("ended_at IS NULL")).empty(); }));

  browser.go(page("#/sessions?live=true"));
  ASSERT_TRUE(browser.wait_for("tr[data-session='" + live + "']"));
  ASSERT_TRUE(browser.click("tr[data-session='" + live + "'] a"));
  ASSERT_TRUE(browser.wait_for("#watch"));
  ASSERT_TRUE(browser.click("#watch"));
  ASSERT_TRUE(browser.wait_for("#status", shows("Watching")));
  ASSERT_TRUE(user.type("echo typed-$((6 * 7))-line\r"));
  EXPECT_TRUE(browser.wait_for(".ap-term-text", shows("typed-42-line"), 30s))
      << browser.wait_for(".ap-term-text").value_or("(no terminal)");
  browser.screenshot(artefact("live.png"));

  // Cancel ends nothing; ending it takes the confirmation, with a reason for the trail.
  ASSERT_TRUE(browser.click("#kill"));
  ASSERT_TRUE(browser.wait_for("#kill-dialog[open]"));
  ASSERT_TRUE(browser.click("#kill-cancel"));
  ASSERT_TRUE(eventually([&] { return !browser.find("#kill-dialog[open]"); }));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(count_rows("sessions WHERE id = '" + live + "' AND ended_at IS NULL"), 1);
  ASSERT_TRUE(browser.click("#kill"));
  ASSERT_TRUE(browser.wait_for("#kill-dialog[open]"));
  ASSERT_TRUE(browser.type("#kill-reason", "browser test"));
  browser.screenshot(artefact("kill-confirm.png"));
  ASSERT_TRUE(browser.click("#kill-confirm"));
  EXPECT_TRUE(browser.wait_for("#status", shows("has ended (killed"), 30s))
      << browser.wait_for("#status").value_or("");
  browser.screenshot(artefact("killed.png"));
  EXPECT_TRUE(user.client().wait_exit(30s).has_value());
  EXPECT_EQ(count_rows("sessions WHERE id = '" + live + "' AND ended_reason LIKE 'killed%'"), 1);
  EXPECT_EQ(count_rows("audit_events WHERE kind = 'admin.kill' AND actor = 'carol' AND "
                       "detail->>'reason' = 'browser test'"),
            1);

  // Nothing was refused by the Content-Security-Policy, and no script failed.
  const auto problems = browser.severe_log();
  std::string all;
  for (const auto& p : problems) {
    all += p + "\n";
  }
  // The only error expected is the wrong token's 401 at sign-in.
  for (const auto& p : problems) {
    EXPECT_NE(p.find("/api/v1/me"), std::string::npos) << all;
  }
}

}  // namespace
}  // namespace bastion::test
