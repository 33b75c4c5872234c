#include "controllers/common/names.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

namespace kiln::controllers {

using nlohmann::json;

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

std::string child_name(std::string_view parent, std::string_view suffix, std::size_t max_length) {
  std::string full(parent);
  if (!suffix.empty()) full += "-" + std::string(suffix);
  if (full.size() <= max_length) return full;
  const std::string hash = sha256_hex(full).substr(0, 5);
  // Room left for the parent part: max - "-hash" - ("-suffix" when present).
  const std::size_t tail = 1 + hash.size() + (suffix.empty() ? 0 : 1 + suffix.size());
  std::string head(parent.substr(0, max_length > tail ? max_length - tail : 0));
  while (!head.empty() && head.back() == '-') head.pop_back();
  std::string name = head.empty() ? hash : head + "-" + hash;
  if (!suffix.empty()) name += "-" + std::string(suffix);
  if (name.size() > max_length) name = name.substr(name.size() - max_length);
  return name;
}

json common_labels() {
  return {{"app.kubernetes.io/managed-by", "kiln"}, {"app.kubernetes.io/part-of", "kiln"}};
}

json owner_reference(const json& owner) {
  return {{"apiVersion", owner.value("apiVersion", kApiVersion)},
          {"kind", owner.value("kind", "")},
          {"name", string_at(owner, "/metadata/name")},
          {"uid", string_at(owner, "/metadata/uid")},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

json child_metadata(const json& owner, const std::string& name, const json& labels) {
  json all = common_labels();
  all.update(labels);
  json meta = {
      {"name", name}, {"labels", all}, {"ownerReferences", json::array({owner_reference(owner)})}};
  const std::string ns = string_at(owner, "/metadata/namespace");
  if (!ns.empty()) meta["namespace"] = ns;
  return meta;
}

std::string string_at(const json& object, const char* pointer, const std::string& fallback) {
  const json::json_pointer p(pointer);
  if (!object.contains(p)) return fallback;
  const json& v = object.at(p);
  return v.is_string() ? v.get<std::string>() : fallback;
}

long long int_at(const json& object, const char* pointer, long long fallback) {
  const json::json_pointer p(pointer);
  if (!object.contains(p)) return fallback;
  const json& v = object.at(p);
  return v.is_number() ? v.get<long long>() : fallback;
}

}  // namespace kiln::controllers
