// The global functions of a render: Jinja's defaults as the sandbox provides
// them (range capped at MAX_RANGE, dict, namespace, cycler, joiner) and the
// two Hugging Face adds for chat templates: raise_exception and strftime_now.
#include <ctime>

#include "template/builtins.h"
#include "template/interpreter.h"
#include "template/runtime_objects.h"

namespace hearth::templating {

namespace {

// jinja2.sandbox.MAX_RANGE
constexpr int64_t kMaxRange = 100000;

Result<Value> g_range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty()) return Status::error("range() takes no keyword arguments");
  const auto& a = args.positional;
  if (a.empty() || a.size() > 3) {
    return Status::error(a.empty() ? "range expected at least 1 argument, got 0"
                                   : "range expected at most 3 arguments, got " + std::to_string(a.size()));
  }
  for (const auto& v : a) {
    if (!v.is_integral()) {
      if (v.is_undefined()) return Status::error(v.undefined_message());
      return Status::error(quoted_type_name(v) + " object cannot be interpreted as an integer");
    }
  }
  const int64_t start = a.size() == 1 ? 0 : a[0].as_int();
  const int64_t stop = a.size() == 1 ? a[0].as_int() : a[1].as_int();
  const int64_t step = a.size() == 3 ? a[2].as_int() : 1;
  if (step == 0) return Status::error("range() arg 3 must not be zero");
  // Length without overflow: ceil((stop - start) / step) when positive.
  const long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  long double count = span / static_cast<long double>(step);
  if (count < 0) count = 0;
  if (count > kMaxRange) {
    return Status::error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  std::vector<Value> items;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) items.push_back(Value::integer(i));
  } else {
    for (int64_t i = start; i > stop; i += step) items.push_back(Value::integer(i));
  }
  HEARTH_RETURN_IF_ERROR(in.check_items(items.size()));
  Value v = Value::list(std::move(items), SeqKind::kRange);
  v.list().range_start = start;
  v.list().range_stop = stop;
  v.list().range_step = step;
  return v;
}

Result<Value> g_dict(Interpreter& in, CallArgs& args) {
  DictData d;
  if (args.positional.size() > 1) {
    return Status::error("dict expected at most 1 argument, got " + std::to_string(args.positional.size()));
  }
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      d = src.dict();
    } else {
      auto items = in.iterate(src);
      if (!items) return items.status();
      for (size_t i = 0; i < items->size(); ++i) {
        auto pair = in.iterate((*items)[i]);
        if (!pair || pair->size() != 2) {
          return Status::error("dictionary update sequence element #" + std::to_string(i) +
                               " has wrong length or is not a sequence");
        }
        d.set((*pair)[0], (*pair)[1]);
      }
    }
  }
  for (auto& [k, v] : args.keyword) d.set(Value::string(k), std::move(v));
  return Value::dict(std::move(d));
}

Result<Value> g_namespace(Interpreter& in, CallArgs& args) {
  auto ns = std::make_shared<NamespaceObject>();
  if (args.positional.size() > 1) return Status::error("namespace() takes at most 1 positional argument");
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (!src.is_dict()) return Status::error("namespace() argument must be a mapping");
    for (const auto& [k, v] : src.dict().entries) {
      if (!k.is_string()) return Status::error("namespace() keys must be strings");
      ns->set_attr(k.str(), v);
    }
  }
  for (auto& [k, v] : args.keyword) ns->set_attr(k, std::move(v));
  in.track(ns);
  return Value::object(std::move(ns));
}

Result<Value> g_cycler(Interpreter&, CallArgs& args) {
  if (args.positional.empty()) return Status::error("at least one item has to be provided");
  return Value::object(std::make_shared<CyclerObject>(args.positional));
}

Result<Value> g_joiner(Interpreter&, CallArgs& args) {
  ArgReader r(args, "joiner()", {"sep"});
  if (!r.status()) return r.status();
  return Value::object(std::make_shared<JoinerObject>(to_str(r.get(0, Value::string(", ")))));
}

Result<Value> g_raise_exception(Interpreter& in, CallArgs& args) {
  ArgReader r(args, "raise_exception()", {"message"});
  if (!r.status()) return r.status();
  if (!r.has(0)) return Status::error("raise_exception() missing 1 required positional argument: 'message'");
  return in.raise(to_str(r.get(0, Value::none())));
}

// datetime.strftime over the render's "now": C strftime in the C locale, with
// Python's handling of %f (microseconds) and %z/%Z (empty for a naive time).
Result<Value> g_strftime_now(Interpreter& in, CallArgs& args) {
  ArgReader r(args, "strftime_now()", {"format"});
  if (!r.status()) return r.status();
  const Value& fmt_v = r.get(0, Value::none());
  if (!fmt_v.is_string()) return Status::error("strftime_now() argument must be str, not " + type_name(fmt_v));
  const std::string& fmt = fmt_v.str();
  std::string out;
  std::string chunk;  // pending directives for strftime
  auto flush = [&]() -> Status {
    if (chunk.empty()) return Status::ok();
    // strftime returns 0 both for "too small" and for an empty result: grow
    // the buffer a few times, then accept empty.
    for (size_t cap = 256; cap <= (1u << 20); cap *= 4) {
      std::string buf(cap, '\0');
      const size_t n = std::strftime(buf.data(), buf.size(), chunk.c_str(), &in.now());
      if (n > 0) {
        out.append(buf.data(), n);
        break;
      }
    }
    chunk.clear();
    return Status::ok();
  };
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '%' && i + 1 < fmt.size()) {
      const char d = fmt[i + 1];
      if (d == 'f' || d == 'z' || d == 'Z') {
        HEARTH_RETURN_IF_ERROR(flush());
        if (d == 'f') out += "000000";
        ++i;
        continue;
      }
      chunk += fmt[i];
      chunk += d;
      ++i;
      continue;
    }
    chunk += fmt[i];
  }
  HEARTH_RETURN_IF_ERROR(flush());
  HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
  return Value::string(std::move(out));
}

}  // namespace

std::vector<std::pair<std::string, Value>> builtin_globals() {
  std::vector<std::pair<std::string, Value>> g;
  auto add = [&](const char* name, BuiltinFunction::Fn fn) {
    g.emplace_back(name, Value::object(std::make_shared<BuiltinFunction>(name, fn)));
  };
  add("range", g_range);
  add("dict", g_dict);
  add("namespace", g_namespace);
  add("cycler", g_cycler);
  add("joiner", g_joiner);
  add("raise_exception", g_raise_exception);
  add("strftime_now", g_strftime_now);
  return g;
}

}  // namespace hearth::templating
