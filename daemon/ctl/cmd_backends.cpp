// hearthctl backends list: the backend plugins hearthd finds, their
// versions and what their probe says (usable, devices, or why not).
#include <cstdio>
#include <string>

#include "ctl/remote.h"

namespace hearth::ctl {

namespace json = boost::json;

int cmd_backends(const Args& args) {
  static const char* kUsage = "usage: hearthctl backends list [--socket PATH] [--json]\n";
  if (args.empty() || args[0] != "list") return usage_error("backends", "", kUsage);
  ArgParser p("backends list");
  Remote::add_options(p);
  if (Status s = p.parse(Args(args.begin() + 1, args.end())); !s) return usage_error("backends", s.message(), kUsage);
  if (!p.positionals().empty()) return usage_error("backends", "unexpected argument '" + p.positionals()[0] + "'", kUsage);
  Remote remote(p);
  int exit = 0;
  auto r = remote.call(json::object{{"cmd", "backends.list"}}, &exit);
  if (!r) return exit;
  if (remote.json()) {
    Remote::print_json(*r);
    return kExitOk;
  }
  const auto& list = r->at("backends").as_array();
  if (list.empty()) {
    std::string dirs;
    for (const auto& d : r->at("search_dirs").as_array()) dirs += (dirs.empty() ? "" : ", ") + text_of(d);
    std::printf("no backend plugins found (searched %s)\n", dirs.c_str());
    return kExitOk;
  }
  std::printf("%-8s %-10s %-5s %-7s %-8s %s\n", "NAME", "VERSION", "ABI", "USABLE", "DEVICES", "DETAILS");
  for (const auto& bv : list) {
    const auto& b = bv.as_object();
    const bool usable = b.at("usable").as_bool();
    std::string details = b.contains("description") ? text_of(b.at("description")) : "";
    if (b.contains("reason")) details += (details.empty() ? "" : "; ") + text_of(b.at("reason"));
    std::printf("%-8s %-10s %-5s %-7s %-8s %s\n", text_of(b.at("name")).c_str(),
                b.contains("version") ? text_of(b.at("version")).c_str() : "-",
                b.contains("abi") ? text_of(b.at("abi")).c_str() : "-", usable ? "yes" : "no",
                b.contains("devices") ? text_of(b.at("devices")).c_str() : "-", details.c_str());
  }
  return kExitOk;
}

}  // namespace hearth::ctl
