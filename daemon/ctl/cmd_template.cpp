// hearthctl template render: renders a chat template for a conversation and
// prints exactly the prompt text on stdout (nothing added), so scripts can
// diff it against a reference or feed it to a tokenizer.
//
//   hearthctl template render (--template FILE | --model GGUF [--template-name NAME])
//       --messages FILE.json [--tools FILE.json] [--bos TEXT] [--eos TEXT]
//       [--no-generation-prompt] [--now "YYYY-MM-DD HH:MM"]
//
// The messages file holds either a JSON array of messages, or an object with
// "messages" and optionally "tools", "add_generation_prompt", "bos_token",
// "eos_token"; its other keys become template variables (enable_thinking,
// documents, ...). Command-line options win over the file, and the file over
// the model's own tokens (--model reads tokenizer.chat_template and the texts
// of tokenizer.ggml.bos_token_id / eos_token_id).
//
// Exit status: 0 rendered; 2 the template raised (its message on stderr) or
// the command line is wrong; 1 anything else (unreadable files, bad JSON, a
// template that does not parse).
#include <boost/json.hpp>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "gguf/gguf_file.h"
#include "template/chat_template.h"

namespace hearth::ctl {

namespace {

constexpr const char* kUsage =
    "usage: hearthctl template render (--template FILE | --model GGUF [--template-name NAME])\n"
    "           --messages FILE.json [--tools FILE.json] [--bos TEXT] [--eos TEXT]\n"
    "           [--no-generation-prompt] [--now \"YYYY-MM-DD HH:MM\"]\n";

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::error("error reading '" + path + "'");
  return ss.str();
}

Result<boost::json::value> read_json(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.status();
  boost::json::parse_options options;
  options.max_depth = templating::kMaxContainerDepth;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec, {}, options);
  if (ec) return Status::error(path + ": invalid JSON: " + ec.message());
  return v;
}

// "YYYY-MM-DD HH:MM" (seconds optional, or the date alone), local time.
Result<std::tm> parse_now(const std::string& text) {
  std::tm tm{};
  int n = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const int fields = std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d%n", &year, &month, &day, &hour, &minute, &second, &n);
  const bool ok = (fields == 3 || fields >= 5) && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour >= 0 &&
                  hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 60;
  if (!ok) return Status::error("--now must look like \"YYYY-MM-DD HH:MM\", got '" + text + "'");
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  // Let mktime fill in the weekday and day of the year (%a, %A, %j).
  std::tm normalized = tm;
  if (std::mktime(&normalized) == static_cast<std::time_t>(-1)) return Status::error("--now is out of range");
  tm.tm_wday = normalized.tm_wday;
  tm.tm_yday = normalized.tm_yday;
  return tm;
}

// The text of a special token named by a metadata id, or "" when absent.
std::string token_text(const gguf::GgufFile& f, const char* id_key) {
  auto id = f.get_uint(id_key);
  auto tokens = f.get_array("tokenizer.ggml.tokens", gguf::ValueType::kString);
  if (!id || !id->has_value() || !tokens || !*tokens) return "";
  const auto& items = (*tokens)->items;
  if (**id >= items.size()) return "";
  const std::string* s = items[**id].as_string();
  return s ? *s : "";
}

struct Source {
  std::string text;
  std::string name;  // for messages
  std::string bos, eos;
};

Result<Source> load_source(const ArgParser& p) {
  Source src;
  if (auto path = p.value("--template")) {
    auto text = read_file(*path);
    if (!text) return text.status();
    src.text = std::move(*text);
    src.name = *path;
    return src;
  }
  const std::string path = *p.value("--model");
  auto file = gguf::GgufFile::open(path, gguf::LoadMode::kMmap);
  if (!file) return file.status();
  std::string key = "tokenizer.chat_template";
  if (auto name = p.value("--template-name")) key += "." + *name;
  auto text = (*file)->get_string(key);
  if (!text) return text.status();
  if (!text->has_value()) return Status::error(path + " has no " + key + " in its metadata");
  src.text = std::move(**text);
  src.name = path;
  src.bos = token_text(**file, "tokenizer.ggml.bos_token_id");
  src.eos = token_text(**file, "tokenizer.ggml.eos_token_id");
  return src;
}

// Fills inputs from the messages file (an array, or an object with more).
Status load_messages(const std::string& path, templating::ChatInputs& in) {
  auto json = read_json(path);
  if (!json) return json.status();
  if (json->is_array()) {
    in.messages = json->as_array();
    return Status::ok();
  }
  if (!json->is_object()) return Status::error(path + ": expected a JSON array of messages or an object");
  for (const auto& member : json->as_object()) {
    const auto key = member.key();
    const auto& v = member.value();
    if (key == "messages") {
      if (!v.is_array()) return Status::error(path + ": \"messages\" must be an array");
      in.messages = v.as_array();
    } else if (key == "tools") {
      in.tools = v;
    } else if (key == "add_generation_prompt") {
      if (!v.is_bool()) return Status::error(path + ": \"add_generation_prompt\" must be true or false");
      in.add_generation_prompt = v.as_bool();
    } else if (key == "bos_token" || key == "eos_token") {
      if (!v.is_string()) return Status::error(path + ": \"" + std::string(key) + "\" must be a string");
      (key == "bos_token" ? in.bos_token : in.eos_token) = std::string(v.as_string());
    } else {
      in.extra[key] = v;
    }
  }
  if (!json->as_object().contains("messages")) return Status::error(path + ": no \"messages\"");
  return Status::ok();
}

}  // namespace

int cmd_template(const Args& args) {
  if (args.empty() || args[0] != "render") {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  ArgParser p("template render");
  p.value_option("--template", "-t");
  p.value_option("--model", "-m");
  p.value_option("--template-name");
  p.value_option("--messages");
  p.value_option("--tools");
  p.value_option("--bos");
  p.value_option("--eos");
  p.value_option("--now");
  p.flag_option("--no-generation-prompt");
  if (Status s = p.parse(Args(args.begin() + 1, args.end())); !s) {
    std::fprintf(stderr, "hearthctl template render: %s\n%s", s.message().c_str(), kUsage);
    return kExitUsage;
  }
  const bool has_template = p.value("--template").has_value();
  const bool has_model = p.value("--model").has_value();
  if (has_template == has_model || !p.value("--messages") || !p.positionals().empty() ||
      (p.value("--template-name") && !has_model)) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  std::optional<std::tm> now;
  if (auto text = p.value("--now")) {
    auto tm = parse_now(*text);
    if (!tm) {
      std::fprintf(stderr, "hearthctl template render: %s\n", tm.message().c_str());
      return kExitUsage;
    }
    now = *tm;
  }

  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "hearthctl template render: %s\n", message.c_str());
    return kExitFailure;
  };
  auto src = load_source(p);
  if (!src) return fail(src.message());
  templating::ChatInputs in;
  in.bos_token = src->bos;
  in.eos_token = src->eos;
  if (Status s = load_messages(*p.value("--messages"), in); !s) return fail(s.message());
  if (auto tools = p.value("--tools")) {
    auto json = read_json(*tools);
    if (!json) return fail(json.message());
    in.tools = std::move(*json);
  }
  if (auto bos = p.value("--bos")) in.bos_token = *bos;
  if (auto eos = p.value("--eos")) in.eos_token = *eos;
  if (p.flag("--no-generation-prompt")) in.add_generation_prompt = false;
  in.now = now;

  auto tpl = templating::ChatTemplate::parse(src->text);
  if (!tpl) return fail(src->name + ": " + tpl.message());
  auto out = tpl->render(in);
  if (!out) {
    // The template's own message, as a server would return it in a 400.
    std::fprintf(stderr, "%s\n", out.message().c_str());
    return kExitUsage;
  }
  std::fwrite(out->data(), 1, out->size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace hearth::ctl
