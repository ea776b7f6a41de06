// bench/pubkey: the public-key decision at scale. A private PostgreSQL gets N users with one
// ed25519 key each (default 100,000); the policy snapshot is loaded as bastiond loads it (one
// read of every row, then the in-memory indexes), and the decision that bastiond makes for each
// offered key (its SHA-256 fingerprint, the key lookup, the owner's state, the key's options) is
// timed one by one over 200,000 offers drawn from 22,000 keys: 20,000 of the users' keys picked
// across all of them, and 2,000 unknown ones. Prints the
// reload time and the decision's p50, p99 and worst case (goal: p99 <= 1 ms).
// Usage: pubkey_bench [keys, default 100000]
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <bastion/common/ssh.hpp>
#include <bastion/policy/evaluator.hpp>
#include <bastion/policy/store.hpp>

#include "build_paths.hpp"
#include "jump_harness.hpp"
#include "postgres.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// N users "u1".."uN", each with one ed25519 public key whose 32 key bytes are SHA-256("kI"): a
// well-formed key blob, stored as `bastionctl user add` stores one (base64 blob, SHA256
// fingerprint without padding).
void fill(const std::string& conninfo, long n) {
  const auto migrated =
      bastion::test::run({bastion::test::bastionctl_path(), "--db", conninfo, "migrate"});
  if (migrated.exit_code != 0) {
    throw std::runtime_error("bastionctl migrate: " + migrated.err);
  }
  const auto at = conninfo.find("dbname=");
  if (at == std::string::npos) {
    throw std::runtime_error("no dbname in the test database's conninfo");
  }
  const std::string dbname = conninfo.substr(at + 7);
  const std::string n_text = std::to_string(n);
  bastion::test::postgres_cluster::instance().psql(
      dbname.substr(0, dbname.find(' ')),
      "INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, " + n_text +
          ") g;\n"
          "INSERT INTO user_keys (user_id, key_type, public_key, fingerprint, bits)\n"
          "SELECT id, 'ssh-ed25519', encode(blob, 'base64'),\n"
          "       'SHA256:' || rtrim(encode(sha256(blob), 'base64'), '='), 256\n"
          "FROM (SELECT id, '\\x0000000b7373682d65643235353139'::bytea || '\\x00000020'::bytea\n"
          "                 || sha256(convert_to('k' || substr(name, 2), 'UTF8')) AS blob\n"
          "      FROM users WHERE name ~ '^u[0-9]+$') k;");
}

// The key of user uI, as a client offers it.
bastion::ssh_key_ptr key_of(long i) {
  std::string blob("\0\0\0\x0bssh-ed25519\0\0\0\x20", 19);
  const std::string seed = "k" + std::to_string(i);
  std::array<unsigned char, SHA256_DIGEST_LENGTH> bytes{};
  SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), bytes.data());
  blob.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::array<unsigned char, 128> text{};
  EVP_EncodeBlock(text.data(), reinterpret_cast<const unsigned char*>(blob.data()),
                  static_cast<int>(blob.size()));
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(reinterpret_cast<const char*>(text.data()), SSH_KEYTYPE_ED25519,
                                   &key) != SSH_OK) {
    throw std::runtime_error("cannot build key " + std::to_string(i));
  }
  return bastion::ssh_key_ptr(key);
}

double percentile(std::vector<double>& v, double p) {
  const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return v[at];
}

int bench(long n) {
  const std::string conninfo = bastion::test::postgres_cluster::instance().fresh_database();
  const auto fill_start = clock_type::now();
  fill(conninfo, n);
  std::printf("%ld users with one key each written in %.1f s\n", n,
              std::chrono::duration<double>(clock_type::now() - fill_start).count());
  bastion::policy::store db(conninfo, "bench", "bench");
  std::vector<double> reloads;
  std::shared_ptr<const bastion::policy::policy_snapshot> snap;
  for (int round = 0; round < 5; ++round) {
    const auto start = clock_type::now();
    snap = std::make_shared<const bastion::policy::policy_snapshot>(db.load_snapshot_rows());
    reloads.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
  }
  std::printf(
      "snapshot reload (read every row, build the indexes): median %.0f ms, worst %.0f ms\n",
      percentile(reloads, 0.5), *std::max_element(reloads.begin(), reloads.end()));
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<long> pick(1, n);
  std::vector<std::pair<long, bastion::ssh_key_ptr>> offers;  // (user, key); user 0: unknown key
  for (int i = 0; i < 20000; ++i) {
    const long user = pick(rng);
    offers.emplace_back(user, key_of(user));
  }
  for (int i = 0; i < 2000; ++i) {
    offers.emplace_back(0, key_of(n + 1 + i));
  }
  std::uniform_int_distribution<std::size_t> offer(0, offers.size() - 1);
  std::vector<double> micros;
  long accepted = 0;
  long expected = 0;
  const bastion::policy::key_context where{.source_ip = "192.0.2.7", .now_unix = 1800000000};
  for (int i = 0; i < 200000; ++i) {
    const auto& [user, key] = offers[offer(rng)];
    const std::string name = "u" + std::to_string(user == 0 ? 1 : user);
    const auto start = clock_type::now();
    const auto parsed = bastion::policy::parse_username(name);
    const auto decision =
        bastion::policy::decide_key(*snap, *parsed, bastion::sha256_fingerprint(key.get()), where);
    micros.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
    accepted += decision.accepted ? 1 : 0;
    expected += user != 0 ? 1 : 0;
  }
  if (accepted != expected) {
    throw std::runtime_error("the decisions accepted " + std::to_string(accepted) + " offers of " +
                             std::to_string(expected) + " known keys");
  }
  const double p50 = percentile(micros, 0.5);
  const double p99 = percentile(micros, 0.99);
  std::printf(
      "public-key decision over %zu offers (%ld accepted): p50 %.1f us, p99 %.1f us, worst %.1f "
      "us (goal p99 <= 1000 us: %s)\n",
      micros.size(), accepted, p50, p99, *std::max_element(micros.begin(), micros.end()),
      p99 <= 1000 ? "met" : "NOT met");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bastion::bench::bench_main(argc, argv, "pubkey_bench", "keys", 100000, 200000, bench);
}
