#pragma once

// Names, labels, owner references and object metadata of the children Kiln's controllers create.
// Pure functions; thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kiln::controllers {

inline constexpr const char* kApiVersion = "kiln.dev/v1alpha1";
inline constexpr const char* kFieldManager = "kiln-manager";
inline constexpr std::size_t kMaxDnsLabel = 63;

// Lower-case hex SHA-256 (FIPS 180-4, computed by OpenSSL) of `data`: 64 characters.
std::string sha256_hex(std::string_view data);

// `<parent>-<suffix>` when that is a valid length (<= `max_length`, default 63, a DNS label);
// otherwise the parent part is truncated and 5 hex characters of the SHA-256 of the full name are
// appended: `<parent-prefix>-<hash5>-<suffix>`, exactly `max_length` long or shorter. Trailing '-'
// of the truncated part are dropped. `suffix` may be empty (then no '-<suffix>'). Deterministic.
std::string child_name(std::string_view parent, std::string_view suffix,
                       std::size_t max_length = kMaxDnsLabel);

// The labels every child carries: app.kubernetes.io/managed-by=kiln,
// app.kubernetes.io/part-of=kiln.
nlohmann::json common_labels();

// {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true} of `owner` (a whole
// object with apiVersion, kind, metadata.name, metadata.uid).
nlohmann::json owner_reference(const nlohmann::json& owner);

// metadata {name, namespace (the owner's), labels (common + `labels`), ownerReferences [owner]}.
nlohmann::json child_metadata(const nlohmann::json& owner, const std::string& name,
                              const nlohmann::json& labels);

// A string field of `object` at a JSON pointer, or `fallback` when absent or not a string.
std::string string_at(const nlohmann::json& object, const char* pointer,
                      const std::string& fallback = "");

// An integer field at a JSON pointer, or `fallback` when absent or not a number.
long long int_at(const nlohmann::json& object, const char* pointer, long long fallback);

}  // namespace kiln::controllers
