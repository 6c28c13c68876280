// Sequence and mapping filters (jinja2/filters.py): select/reject and their
// attr forms, map, sort, unique, groupby, join, first/last, min/max, sum...
// Where Jinja returns a generator, so do these (one-shot, always truthy,
// no len()), since templates can observe the difference.
#include <algorithm>
#include <unordered_set>

#include "template/builtins.h"
#include "template/filters_impl.h"
#include "template/unicode.h"

namespace hearth::templating::filters {

namespace {

const Value kNone = Value::none();

#define READ_ARGS(reader, what, ...)           \
  ArgReader reader(args, what, {__VA_ARGS__}); \
  if (!reader.status()) return reader.status()

Value ignore_case(const Value& v) {
  if (v.is_string()) return Value::string(unicode::to_lower(v.str()));
  return v;
}

// make_attrgetter: "a.b.0" → getitem chain (digit parts as integers).
std::vector<Value> attribute_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  const std::string& s = attribute.str();
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && part.size() < 18 && part.find_first_not_of("0123456789") == std::string::npos;
    parts.push_back(digits ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Result<Value> get_path(Interpreter& in, Value item, const std::vector<Value>& parts, const Value* dflt = nullptr) {
  for (const auto& part : parts) {
    auto r = in.getitem(item, part);
    if (!r) return r;
    item = std::move(*r);
    if (dflt && item.is_undefined()) item = *dflt;
  }
  return item;
}

// Stable sort by precomputed keys with Python's `<`; the first TypeError wins.
Status sort_by_keys(std::vector<Value>& items, std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status err;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (!err.is_ok()) return false;
    auto lt = reverse ? compare(keys[b], keys[a], "<") : compare(keys[a], keys[b], "<");
    if (!lt) {
      err = lt.status();
      return false;
    }
    return *lt;
  });
  HEARTH_RETURN_IF_ERROR(err);
  std::vector<Value> sorted_items, sorted_keys;
  for (size_t i : order) {
    sorted_items.push_back(std::move(items[i]));
    sorted_keys.push_back(std::move(keys[i]));
  }
  items = std::move(sorted_items);
  keys = std::move(sorted_keys);
  return Status::ok();
}

Value generator(std::vector<Value> items) { return Value::list(std::move(items), SeqKind::kGenerator); }

Result<Value> select_or_reject(Interpreter& in, const Value& v, CallArgs& args, bool select, bool lookup_attr) {
  if (!truthy(v)) return generator({});
  size_t off = 0;
  std::vector<Value> parts;
  if (lookup_attr) {
    if (args.positional.empty()) return Status::error("Missing parameter for attribute name");
    parts = attribute_parts(args.positional[0]);
    off = 1;
  }
  std::optional<std::string> test;
  CallArgs test_args;
  if (args.positional.size() > off) {
    if (!args.positional[off].is_string()) return Status::error("No test named " + to_repr(args.positional[off]) + ".");
    test = args.positional[off].str();
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), args.positional.end());
    test_args.keyword = args.keyword;
  }
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::vector<Value> out;
  for (auto& item : *items) {
    auto subject = get_path(in, item, parts);
    if (!subject) return subject.status();
    bool pass;
    if (test) {
      auto r = in.apply_test(*test, *subject, test_args);
      if (!r) return r.status();
      pass = *r;
    } else {
      pass = truthy(*subject);
    }
    if (pass == select) out.push_back(std::move(item));
  }
  return generator(std::move(out));
}

}  // namespace

Result<Value> f_select(Interpreter& in, const Value& v, CallArgs& args) { return select_or_reject(in, v, args, true, false); }
Result<Value> f_reject(Interpreter& in, const Value& v, CallArgs& args) { return select_or_reject(in, v, args, false, false); }
Result<Value> f_selectattr(Interpreter& in, const Value& v, CallArgs& args) { return select_or_reject(in, v, args, true, true); }
Result<Value> f_rejectattr(Interpreter& in, const Value& v, CallArgs& args) { return select_or_reject(in, v, args, false, true); }

Result<Value> f_map(Interpreter& in, const Value& v, CallArgs& args) {
  if (!truthy(v)) return generator({});
  bool by_attribute = false;
  std::vector<Value> parts;
  std::optional<Value> dflt;
  std::string filter;
  CallArgs filter_args;
  if (args.positional.empty()) {
    for (const auto& [k, val] : args.keyword) {
      if (k == "attribute") {
        by_attribute = true;
        parts = attribute_parts(val);
      } else if (k == "default") {
        if (!val.is_none()) dflt = val;
      } else {
        return Status::error("Unexpected keyword argument '" + k + "'");
      }
    }
    if (!by_attribute) return Status::error("map requires a filter argument");
  } else {
    if (!args.positional[0].is_string()) return Status::error("No filter named " + to_repr(args.positional[0]) + ".");
    filter = args.positional[0].str();
    filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
    filter_args.keyword = args.keyword;
  }
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::vector<Value> out;
  out.reserve(items->size());
  for (auto& item : *items) {
    auto r = by_attribute ? get_path(in, item, parts, dflt ? &*dflt : nullptr) : in.apply_filter(filter, item, filter_args);
    if (!r) return r.status();
    out.push_back(std::move(*r));
  }
  return generator(std::move(out));
}

Result<Value> f_join(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "join()", "d", "attribute");
  const std::string sep = to_str(r.get(0, Value::string("")));
  const auto parts = attribute_parts(r.get(1, kNone));
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::string out;
  for (size_t i = 0; i < items->size(); ++i) {
    auto item = get_path(in, (*items)[i], parts);
    if (!item) return item.status();
    if (i) out += sep;
    append_str(out, *item);
    HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
  }
  return Value::string(std::move(out));
}

Result<Value> f_length(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "length()", );
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return Value::integer(0);
    case Value::Kind::kString:
      return Value::integer(static_cast<int64_t>(unicode::length(v.str())));
    case Value::Kind::kDict:
      return Value::integer(static_cast<int64_t>(v.dict().entries.size()));
    case Value::Kind::kList:
      if (v.list().kind != SeqKind::kGenerator) return Value::integer(static_cast<int64_t>(v.list().items.size()));
      break;
    default:
      break;
  }
  return Status::error("object of type '" + type_name(v) + "' has no len()");
}

Result<Value> f_list(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "list()", );
  auto items = in.iterate(v);
  if (!items) return items.status();
  return Value::list(std::move(*items));
}

Result<Value> f_items(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "items()", );
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) return Status::error("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict().entries) out.push_back(Value::tuple({k, val}));
  return generator(std::move(out));
}

Result<Value> f_first(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "first()", );
  if (v.is_seq(SeqKind::kGenerator)) {
    ListData& l = v.list();
    if (l.cursor < l.items.size()) return l.items[l.cursor++];
  } else {
    auto items = in.iterate(v);
    if (!items) return items.status();
    if (!items->empty()) return std::move(items->front());
  }
  return Value::undefined("No first item, sequence was empty.");
}

Result<Value> f_last(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "last()", );
  if (v.is_seq(SeqKind::kGenerator)) return Status::error("'generator' object is not reversible");
  if (!(v.is_string() || v.is_list() || v.is_dict() || v.is_undefined())) {
    return Status::error(quoted_type_name(v) + " object is not reversible");
  }
  auto items = in.iterate(v);
  if (!items) return items.status();
  if (!items->empty()) return std::move(items->back());
  return Value::undefined("No last item, sequence was empty.");
}

Result<Value> f_reverse(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "reverse()", );
  if (v.is_string()) {
    auto chars = in.iterate(v);
    if (!chars) return chars.status();
    std::string out;
    for (auto it = chars->rbegin(); it != chars->rend(); ++it) out += it->str();
    return Value::string(std::move(out));
  }
  if (!(v.is_list() || v.is_dict() || v.is_undefined())) return Status::error("argument must be iterable");
  const bool reversible = !v.is_seq(SeqKind::kGenerator);
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::reverse(items->begin(), items->end());
  // reversed() gives an iterator; a generator is first turned into a list.
  return reversible ? generator(std::move(*items)) : Value::list(std::move(*items));
}

Result<Value> f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "sort()", "reverse", "case_sensitive", "attribute");
  const bool reverse = truthy(r.get(0, Value::boolean(false)));
  const bool case_sensitive = truthy(r.get(1, Value::boolean(false)));
  const Value& attribute = r.get(2, kNone);
  std::vector<std::vector<Value>> paths;
  if (attribute.is_string()) {
    const std::string& s = attribute.str();
    size_t start = 0;
    while (true) {
      const size_t comma = s.find(',', start);
      paths.push_back(attribute_parts(Value::string(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    paths.push_back(attribute_parts(attribute));
  }
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::vector<Value> keys;
  for (const auto& item : *items) {
    std::vector<Value> key;
    for (const auto& path : paths) {
      auto k = get_path(in, item, path);
      if (!k) return k.status();
      key.push_back(case_sensitive ? std::move(*k) : ignore_case(*k));
    }
    keys.push_back(Value::list(std::move(key)));
  }
  HEARTH_RETURN_IF_ERROR(sort_by_keys(*items, keys, reverse));
  return Value::list(std::move(*items));
}

Result<Value> f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "dictsort()", "case_sensitive", "by", "reverse");
  const bool case_sensitive = truthy(r.get(0, Value::boolean(false)));
  const Value& by = r.get(1, Value::string("key"));
  const bool reverse = truthy(r.get(2, Value::boolean(false)));
  size_t pos;
  if (by.is_string() && by.str() == "key") pos = 0;
  else if (by.is_string() && by.str() == "value") pos = 1;
  else return Status::error("You can only sort by either \"key\" or \"value\"");
  if (!v.is_dict()) return Status::error(quoted_type_name(v) + " object has no attribute 'items'");
  std::vector<Value> items, keys;
  for (const auto& [k, val] : v.dict().entries) {
    items.push_back(Value::tuple({k, val}));
    const Value& key = pos == 0 ? k : val;
    keys.push_back(case_sensitive ? key : ignore_case(key));
  }
  HEARTH_RETURN_IF_ERROR(sort_by_keys(items, keys, reverse));
  return Value::list(std::move(items));
}

Result<Value> f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "unique()", "case_sensitive", "attribute");
  const bool case_sensitive = truthy(r.get(0, Value::boolean(false)));
  const auto parts = attribute_parts(r.get(1, kNone));
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::unordered_set<std::string> seen_strings;
  std::vector<Value> seen_other;
  std::vector<Value> out;
  for (auto& item : *items) {
    auto key = get_path(in, item, parts);
    if (!key) return key.status();
    Value k = case_sensitive ? std::move(*key) : ignore_case(*key);
    if ((k.is_list() && !k.is_seq(SeqKind::kTuple)) || k.is_dict()) {
      return Status::error("unhashable type: '" + type_name(k) + "'");
    }
    bool fresh;
    if (k.is_string()) {
      fresh = seen_strings.insert(k.str()).second;
    } else {
      fresh = std::none_of(seen_other.begin(), seen_other.end(), [&](const Value& s) { return equals(s, k); });
      if (fresh) seen_other.push_back(k);
    }
    if (fresh) out.push_back(std::move(item));
  }
  return generator(std::move(out));
}

namespace {

Result<Value> min_or_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  READ_ARGS(r, want_max ? "max()" : "min()", "case_sensitive", "attribute");
  const bool case_sensitive = truthy(r.get(0, Value::boolean(false)));
  const auto parts = attribute_parts(r.get(1, kNone));
  auto items = in.iterate(v);
  if (!items) return items.status();
  if (items->empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items->size(); ++i) {
    auto key = get_path(in, (*items)[i], parts);
    if (!key) return key.status();
    Value k = case_sensitive ? std::move(*key) : ignore_case(*key);
    if (i == 0) {
      best_key = std::move(k);
      continue;
    }
    auto better = want_max ? compare(k, best_key, ">") : compare(k, best_key, "<");
    if (!better) return better.status();
    if (*better) {
      best = i;
      best_key = std::move(k);
    }
  }
  return (*items)[best];
}

}  // namespace

Result<Value> f_min(Interpreter& in, const Value& v, CallArgs& args) { return min_or_max(in, v, args, false); }
Result<Value> f_max(Interpreter& in, const Value& v, CallArgs& args) { return min_or_max(in, v, args, true); }

Result<Value> f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "sum()", "attribute", "start");
  const auto parts = attribute_parts(r.get(0, kNone));
  Value total = r.get(1, Value::integer(0));
  if (total.is_string()) return Status::error("sum() can't sum strings [use ''.join(seq) instead]");
  auto items = in.iterate(v);
  if (!items) return items.status();
  for (const auto& item : *items) {
    auto x = get_path(in, item, parts);
    if (!x) return x.status();
    auto s = binary_operation(in, BinOp::kAdd, total, *x);
    if (!s) return s.status();
    total = std::move(*s);
  }
  return total;
}

Result<Value> f_groupby(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "groupby()", "attribute", "default", "case_sensitive");
  if (!r.has(0)) return Status::error("groupby() missing required argument 'attribute'");
  const auto parts = attribute_parts(r.get(0, kNone));
  const Value& dflt = r.get(1, kNone);
  const bool case_sensitive = truthy(r.get(2, Value::boolean(false)));
  auto items = in.iterate(v);
  if (!items) return items.status();
  std::vector<Value> keys;
  for (const auto& item : *items) {
    auto k = get_path(in, item, parts, dflt.is_none() ? nullptr : &dflt);
    if (!k) return k.status();
    keys.push_back(case_sensitive ? std::move(*k) : ignore_case(*k));
  }
  HEARTH_RETURN_IF_ERROR(sort_by_keys(*items, keys, false));
  std::vector<Value> groups;
  size_t i = 0;
  while (i < items->size()) {
    size_t j = i + 1;
    while (j < items->size() && equals(keys[j], keys[i])) ++j;
    std::vector<Value> members(items->begin() + static_cast<std::ptrdiff_t>(i), items->begin() + static_cast<std::ptrdiff_t>(j));
    Value grouper = keys[i];
    if (!case_sensitive) {
      auto g = get_path(in, members[0], parts, dflt.is_none() ? nullptr : &dflt);
      if (!g) return g.status();
      grouper = std::move(*g);
    }
    groups.push_back(Value::tuple({std::move(grouper), Value::list(std::move(members))}));
    i = j;
  }
  return Value::list(std::move(groups));
}

Result<Value> f_batch(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "batch()", "linecount", "fill_with");
  const Value& n_v = r.get(0, kNone);
  if (!n_v.is_integral()) return Status::error("batch() needs an integer line count");
  const int64_t n = n_v.as_int();
  const Value& fill = r.get(1, kNone);
  auto items = in.iterate(v);
  if (!items) return items.status();
  HEARTH_RETURN_IF_ERROR(in.check_items(items->size()));
  std::vector<Value> out, tmp;
  for (auto& item : *items) {
    if (static_cast<int64_t>(tmp.size()) == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (!fill.is_none() && static_cast<int64_t>(tmp.size()) < n) {
      HEARTH_RETURN_IF_ERROR(in.check_items(static_cast<size_t>(n)));
      tmp.resize(static_cast<size_t>(n), fill);
    }
    out.push_back(Value::list(std::move(tmp)));
  }
  return generator(std::move(out));
}

Result<Value> f_slice(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "slice()", "slices", "fill_with");
  const Value& n_v = r.get(0, kNone);
  if (!n_v.is_integral() || n_v.as_int() <= 0) return Status::error("slice() needs a positive number of slices");
  const int64_t slices = n_v.as_int();
  HEARTH_RETURN_IF_ERROR(in.check_items(static_cast<size_t>(slices)));
  const Value& fill = r.get(1, kNone);
  auto items = in.iterate(v);
  if (!items) return items.status();
  const int64_t length = static_cast<int64_t>(items->size());
  const int64_t per = length / slices;
  const int64_t extra = length % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t start = offset + k * per;
    if (k < extra) ++offset;
    const int64_t end = offset + (k + 1) * per;
    std::vector<Value> tmp(items->begin() + start, items->begin() + end);
    if (!fill.is_none() && k >= extra) tmp.push_back(fill);
    out.push_back(Value::list(std::move(tmp)));
  }
  return generator(std::move(out));
}

}  // namespace hearth::templating::filters
