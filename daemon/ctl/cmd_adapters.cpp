// hearthctl adapters load | unload | list: LoRA adapters served on top of
// the daemon's models, over the admin socket. The adapter file is read by
// hearthd, so its path is sent as an absolute path.
#include <cstdio>
#include <filesystem>
#include <string>

#include "ctl/remote.h"

namespace hearth::ctl {
namespace {

namespace json = boost::json;

constexpr const char* kUsage =
    "usage: hearthctl adapters load NAME --model BASE --file PATH [--scale S]\n"
    "       hearthctl adapters unload NAME\n"
    "       hearthctl adapters list\n"
    "A request selects an adapter by putting NAME in its \"model\" field (optionally \"lora_scale\").\n";

void print_list(const json::object& r) {
  const auto& list = r.at("adapters").as_array();
  if (list.empty()) {
    std::printf("no adapters (load one: hearthctl adapters load NAME --model BASE --file PATH)\n");
    return;
  }
  std::printf("%-24s %-20s %6s %5s %7s %6s %10s  %s\n", "NAME", "MODEL", "SCALE", "RANK", "ALPHA", "TENSORS", "SIZE",
              "PATH");
  for (const auto& v : list) {
    const auto& a = v.as_object();
    std::printf("%-24s %-20s %6g %5s %7g %6s %10s  %s\n", text_of(a.at("name")).c_str(), text_of(a.at("model")).c_str(),
                a.at("scale").to_number<double>(), text_of(a.at("max_rank")).c_str(), a.at("alpha").to_number<double>(),
                text_of(a.at("tensors")).c_str(), human_bytes(a.at("bytes").to_number<uint64_t>()).c_str(),
                text_of(a.at("path")).c_str());
  }
}

}  // namespace

int cmd_adapters(const Args& args) {
  if (args.empty()) return usage_error("adapters", "", kUsage);
  const std::string sub = args[0];
  ArgParser p("adapters " + sub);
  Remote::add_options(p);
  if (sub == "load") {
    for (const char* o : {"--model", "--file", "--scale"}) p.value_option(o);
  }
  if (Status s = p.parse(args); !s) return usage_error("adapters", s.message(), kUsage);
  const auto& pos = p.positionals();  // pos[0] is the subcommand
  Remote remote(p);
  int exit = 0;
  json::object req;
  if (sub == "list") {
    if (pos.size() != 1) return usage_error("adapters", "'list' takes no argument", kUsage);
    req = {{"cmd", "adapters.list"}};
  } else if (sub == "unload") {
    if (pos.size() != 2) return usage_error("adapters", "'unload' needs NAME", kUsage);
    req = {{"cmd", "adapters.unload"}, {"name", pos[1]}};
  } else if (sub == "load") {
    if (pos.size() != 2) return usage_error("adapters", "'load' needs NAME", kUsage);
    const auto model = p.value("--model");
    const auto file = p.value("--file");
    if (!model || !file) return usage_error("adapters", "'load' needs --model BASE and --file PATH", kUsage);
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(*file, ec);
    if (ec) return usage_error("adapters", *file + ": " + ec.message(), kUsage);
    req = {{"cmd", "adapters.load"}, {"name", pos[1]}, {"model", *model}, {"path", abs.lexically_normal().string()}};
    auto scale = p.number("--scale", -100.0, 100.0);
    if (!scale) return usage_error("adapters", scale.message(), kUsage);
    if (*scale) req["scale"] = **scale;
  } else {
    return usage_error("adapters", "unknown subcommand '" + sub + "'", kUsage);
  }
  auto r = remote.call(req, &exit);
  if (!r) return exit;
  if (remote.json()) {
    Remote::print_json(*r);
  } else if (sub == "list") {
    print_list(*r);
  } else if (sub == "unload") {
    std::printf("unloaded adapter %s (requests running with it finish first)\n", text_of(r->at("unloaded")).c_str());
  } else {
    std::printf("loaded adapter %s on %s (%s tensors, rank up to %s, scale %g)\n", text_of(r->at("name")).c_str(),
                text_of(r->at("model")).c_str(), text_of(r->at("tensors")).c_str(), text_of(r->at("max_rank")).c_str(),
                r->at("scale").to_number<double>());
  }
  return kExitOk;
}

}  // namespace hearth::ctl
