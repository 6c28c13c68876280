#include "store/export_manifest.h"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

#include "store/atomic_file.h"

namespace hearth::store {
namespace {

namespace json = boost::json;

Result<json::object> read_manifest(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return json::object{};
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object() || !v.as_object().contains("models") || !v.as_object().at("models").is_array()) {
    return Status::error(file.string() + ": not a Hearth export manifest (expected {\"models\": [...]})");
  }
  return v.as_object();
}

}  // namespace

std::string export_file_name(const std::string& model_name) {
  std::string out;
  for (char c : model_name) out += (c == '/' || c == ':') ? '_' : c;
  return out + ".gguf";
}

Status add_to_export_manifest(const std::filesystem::path& dir, const StoredModel& model) {
  const auto file = dir / "manifest.json";
  auto manifest = read_manifest(file);
  if (!manifest) return manifest.status();
  json::array models;
  if (manifest->contains("models")) {
    for (const auto& m : manifest->at("models").as_array()) {
      if (m.is_object() && m.as_object().contains("name") && m.as_object().at("name") == model.name.c_str()) continue;
      models.push_back(m);
    }
  }
  models.push_back(json::object{{"name", model.name},
                                {"digest", model.digest},
                                {"size", model.size},
                                {"file", export_file_name(model.name)}});
  json::object out{{"format", "hearth-model-export"}, {"version", 1}, {"models", std::move(models)}};
  return write_file_atomically(file, json::serialize(out) + "\n");
}

Result<std::string> export_manifest_digest(const std::filesystem::path& dir, const std::string& file_name) {
  auto manifest = read_manifest(dir / "manifest.json");
  if (!manifest) return manifest.status();
  if (!manifest->contains("models")) return std::string();
  for (const auto& m : manifest->at("models").as_array()) {
    if (!m.is_object()) continue;
    const auto& o = m.as_object();
    if (o.contains("file") && o.at("file").is_string() && o.at("file").as_string() == file_name.c_str() &&
        o.contains("digest") && o.at("digest").is_string()) {
      return std::string(o.at("digest").as_string());
    }
  }
  return std::string();
}

}  // namespace hearth::store
