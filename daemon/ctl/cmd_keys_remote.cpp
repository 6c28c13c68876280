// hearthctl keys create | list | revoke: the running daemon's API keys,
// over the admin socket. The daemon writes its keys file (hashes only) and
// starts accepting or refusing the key at once. (keys add/list --file edit
// a keys file directly, without a daemon: cmd_keys.cpp.)
#include <cstdio>
#include <string>

#include "ctl/remote.h"

namespace hearth::ctl {

namespace json = boost::json;

int cmd_keys_remote(const Args& args) {
  static const char* kUsage =
      "usage: hearthctl keys create NAME [--socket PATH] [--json]   new key, printed once\n"
      "       hearthctl keys list [--socket PATH] [--json]\n"
      "       hearthctl keys revoke NAME [--socket PATH] [--json]\n"
      "       hearthctl keys add NAME --file KEYS | keys list --file KEYS   (local file, no daemon)\n";
  const std::string sub = args.empty() ? "" : args[0];
  ArgParser p("keys " + sub);
  Remote::add_options(p);
  if (Status s = p.parse(Args(args.begin() + (args.empty() ? 0 : 1), args.end())); !s) {
    return usage_error("keys", s.message(), kUsage);
  }
  const size_t want = sub == "list" ? 0 : 1;
  if (p.positionals().size() != want) return usage_error("keys", sub == "list" ? "'list' takes no argument" : "'" + sub + "' needs NAME", kUsage);
  Remote remote(p);
  int exit = 0;
  json::object req{{"cmd", "keys." + sub}};
  if (want) req["name"] = p.positionals()[0];
  auto r = remote.call(req, &exit);
  if (!r) return exit;
  if (remote.json()) {
    Remote::print_json(*r);
  } else if (sub == "create") {
    std::printf("%s\n", text_of(r->at("key")).c_str());
    std::fprintf(stderr, "hearthctl keys: created '%s' (in force now); the key above is shown only this once\n",
                 text_of(r->at("name")).c_str());
  } else if (sub == "list") {
    for (const auto& n : r->at("keys").as_array()) std::printf("%s\n", text_of(n).c_str());
  } else {
    std::printf("revoked %s (refused from now on)\n", text_of(r->at("revoked")).c_str());
  }
  return kExitOk;
}

}  // namespace hearth::ctl
