// hearthctl keys: local management of hearthd's API keys file (no daemon
// needed). `add` prints the new key once on stdout and stores only its hash.
#include <algorithm>
#include <cstdio>
#include <string>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "server/auth/api_keys.h"

namespace hearth::ctl {

int cmd_keys(const Args& args) {
  // create / revoke, and list without --file, go to the running daemon.
  const bool has_file = std::find_if(args.begin(), args.end(), [](const std::string& a) {
                          return a == "--file" || a.rfind("--file=", 0) == 0;
                        }) != args.end();
  if (!args.empty() && (args[0] == "create" || args[0] == "revoke" || (args[0] == "list" && !has_file))) {
    return cmd_keys_remote(args);
  }
  if (args.empty() || (args[0] != "add" && args[0] != "list")) {
    std::fprintf(stderr, "usage: hearthctl keys add NAME --file KEYS\n       hearthctl keys list --file KEYS\n");
    return kExitUsage;
  }
  const std::string sub = args[0];
  ArgParser p("keys " + sub);
  p.value_option("--file");
  if (Status s = p.parse(Args(args.begin() + 1, args.end())); !s) {
    std::fprintf(stderr, "hearthctl keys: %s\n", s.message().c_str());
    return kExitUsage;
  }
  const auto file = p.value("--file");
  if (!file || p.positionals().size() != (sub == "add" ? 1u : 0u)) {
    std::fprintf(stderr, "usage: hearthctl keys add NAME --file KEYS\n       hearthctl keys list --file KEYS\n");
    return kExitUsage;
  }
  if (sub == "list") {
    auto keys = server::ApiKeys::load(*file);
    if (!keys) {
      std::fprintf(stderr, "hearthctl keys: %s\n", keys.message().c_str());
      return kExitFailure;
    }
    for (const auto& n : keys->names()) std::printf("%s\n", n.c_str());
    return kExitOk;
  }
  auto key = server::ApiKeys::add_key(*file, p.positionals()[0]);
  if (!key) {
    std::fprintf(stderr, "hearthctl keys: %s\n", key.message().c_str());
    return kExitFailure;
  }
  std::printf("%s\n", key->c_str());
  std::fprintf(stderr, "hearthctl keys: added '%s' to %s; the key above is shown only this once\n",
               p.positionals()[0].c_str(), file->c_str());
  return kExitOk;
}

}  // namespace hearth::ctl
