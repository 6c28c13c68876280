// ServedModels: the models hearthd serves, loaded from the configuration at
// start: each gets its LoadedModel, a Scheduler, and its chat template from
// the GGUF metadata. The set is fixed after load_all(); thread-safe to read.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/api/served_model.h"
#include "server/config/server_config.h"

namespace hearth::server {

class ServedModels : public api::ModelRegistry {
 public:
  // Loads one model; errors name the model and the file.
  Status load(const ModelEntry& entry, const ServerConfig& config);

  std::shared_ptr<api::ServedModel> find(const std::string& name) const override;
  std::vector<std::shared_ptr<api::ServedModel>> list() const override;

  // Stops every scheduler (running sequences end as cancelled).
  void shutdown();

 private:
  std::map<std::string, std::shared_ptr<api::ServedModel>> models_;
};

// Writes the demo model (random weights, labelled as such) to `path` unless
// it is already there; returns the path.
Result<std::filesystem::path> ensure_demo_model(const std::filesystem::path& state_dir);

}  // namespace hearth::server
