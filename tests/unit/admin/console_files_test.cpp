// The web console's files: what a web root may hold, and lookups by exact path only.
#include "console_files.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "../../fixtures/temp_dir.hpp"

namespace bastion::admin {
namespace {

namespace fs = std::filesystem;

void put(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

TEST(console_files, serves_the_tree_by_exact_path_with_types_and_etags) {
  test::temp_dir dir;
  const auto root = dir.path() / "web";
  put(root / "index.html", "<!doctype html>");
  put(root / "js" / "main.js", "export {};");
  put(root / "vendor" / "player.css", "a{}");
  put(root / ".hidden", "secret");
  put(root / ".git" / "config", "secret");
  put(root / "bad name.js", "x");
  put(dir.path() / "outside.txt", "secret");
  fs::create_symlink(dir.path() / "outside.txt", root / "link.txt");
  const auto files = console_files::load(root);
  ASSERT_TRUE(files) << files.error().text;
  EXPECT_EQ(files->size(), 3u);
  ASSERT_NE(files->find("/"), nullptr);
  EXPECT_EQ(files->find("/")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(files->find("/js/main.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(files->find("/vendor/player.css")->body, "a{}");
  EXPECT_NE(files->find("/js/main.js")->etag, files->find("/index.html")->etag);
  for (const char* path :
       {"/.hidden", "/.git/config", "/link.txt", "/bad name.js", "/../outside.txt",
        "/js/../index.html", "/js/", "js/main.js", "/index.html?x", ""}) {
    EXPECT_EQ(files->find(path), nullptr) << path;
  }
}

TEST(console_files, names_the_fix_for_a_root_it_cannot_serve) {
  test::temp_dir dir;
  const auto missing = console_files::load(dir.path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().text.find("no index.html; build it with"), std::string::npos)
      << missing.error().text;
  put(dir.path() / "big" / "index.html", "x");
  put(dir.path() / "big" / "huge.js", std::string(console_files::max_file_bytes + 1, 'x'));
  const auto big = console_files::load(dir.path() / "big");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().text.find("over the bounds of a console"), std::string::npos)
      << big.error().text;
}

}  // namespace
}  // namespace bastion::admin
