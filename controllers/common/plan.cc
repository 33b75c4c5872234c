#include "controllers/common/plan.h"

#include "controllers/common/names.h"

namespace kiln::controllers {

ObjectRef delete_ref_of(const nlohmann::json& object, const std::string& propagation) {
  return {object.value("apiVersion", ""), object.value("kind", ""),
          string_at(object, "/metadata/namespace"), string_at(object, "/metadata/name"),
          propagation};
}

}  // namespace kiln::controllers
