#include "server/api/served_model.h"

namespace hearth::server::api {

// Out of line so the vtable has one home.
ModelRegistry::~ModelRegistry() = default;

}  // namespace hearth::server::api
