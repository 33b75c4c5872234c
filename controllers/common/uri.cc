#include "controllers/common/uri.h"

#include <uriparser/Uri.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace kiln::controllers {
namespace {

using nlohmann::json;

// Every URI field of the CRDs has this maxLength; longer input is refused before it is parsed.
constexpr std::size_t kMaxUriBytes = 2048;
// How much of a refused URI its message repeats.
constexpr std::size_t kShownBytes = 120;

constexpr std::string_view kExpected = "expected s3://, gs://, https://, pvc:// or file://";

struct SchemeName {
  std::string_view name;
  UriScheme scheme;
};
constexpr SchemeName kSchemes[] = {{"s3", UriScheme::kS3},       {"gs", UriScheme::kGs},
                                   {"https", UriScheme::kHttps}, {"http", UriScheme::kHttp},
                                   {"pvc", UriScheme::kPvc},     {"file", UriScheme::kFile}};

// Owns what uriParseSingleUriExA allocates (the path segments, the IP address structs).
class ParsedUri {
 public:
  ParsedUri() = default;
  ParsedUri(const ParsedUri&) = delete;
  ParsedUri& operator=(const ParsedUri&) = delete;
  ~ParsedUri() {
    if (parsed_) uriFreeUriMembersA(&uri_);
  }
  // 0 or liburiparser's error code; `error_pos` is set on URI_ERROR_SYNTAX.
  int parse(std::string_view text, const char** error_pos) {
    const int rc = uriParseSingleUriExA(&uri_, text.data(), text.data() + text.size(), error_pos);
    parsed_ = rc == URI_SUCCESS;
    return rc;
  }
  const UriUriA& get() const { return uri_; }

 private:
  UriUriA uri_{};
  bool parsed_ = false;
};

bool present(const UriTextRangeA& range) { return range.first != nullptr; }

std::string_view text(const UriTextRangeA& range) {
  if (range.first == nullptr) return {};
  return {range.first, static_cast<std::size_t>(range.afterLast - range.first)};
}

Error invalid(std::string_view uri, std::string_view problem) {
  std::string shown(uri.substr(0, kShownBytes));
  if (uri.size() > kShownBytes) shown += "...";
  return Error::invalid_input(shown + ": " + std::string(problem));
}

std::string in_quotes(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '"').append(s).append(1, '"');
  return out;
}

bool lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 label, as Kubernetes checks volume names: 1-63 of [a-z0-9-], alphanumeric at both ends.
bool dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!lower_or_digit(s.front()) || !lower_or_digit(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lower_or_digit(c) || c == '-'; });
}

// "" when `name` is a bucket name of S3 (gcs = false) or Google Cloud Storage (gcs = true, which
// also allows '_'), else why not. Dotted GCS names over 63 characters are not accepted.
std::string bucket_problem(std::string_view name, bool gcs) {
  const std::string shown = "bucket " + in_quotes(name);
  if (name.size() < 3 || name.size() > 63) return shown + " must be 3-63 characters long";
  for (char c : name) {
    if (!lower_or_digit(c) && c != '-' && c != '.' && !(gcs && c == '_')) {
      return shown + (gcs ? " may hold only a-z, 0-9, '-', '_' and '.'"
                          : " may hold only a-z, 0-9, '-' and '.'");
    }
  }
  if (!lower_or_digit(name.front()) || !lower_or_digit(name.back())) {
    return shown + " must start and end with a letter or digit";
  }
  if (name.find("..") != std::string_view::npos) return shown + " may not hold \"..\"";
  return "";
}

// A registered name as DNS writes it: labels of 1-63 [A-Za-z0-9-], not starting or ending with
// '-', at most 253 characters in all.
bool host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      const bool alnum = lower_or_digit(c) || (c >= 'A' && c <= 'Z');
      if (!alnum && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// The segment with its %XX escapes decoded by liburiparser (may hold '/' or NUL bytes).
std::string percent_decoded(std::string_view segment) {
  std::string buffer(segment);
  const char* end = uriUnescapeInPlaceExA(buffer.data(), URI_FALSE, URI_BR_DONT_TOUCH);
  buffer.resize(static_cast<std::size_t>(end - buffer.data()));
  return buffer;
}

// "" when the path segment may be used, else why not. `.` and `..` are refused as written and
// after percent-decoding, also when an encoded '/' (%2F) would cut the segment into one.
std::string segment_problem(std::string_view segment) {
  if (segment == "." || segment == "..") {
    return "a " + in_quotes(segment) + " segment is not allowed";
  }
  if (segment.find('%') == std::string_view::npos) return "";
  const std::string decoded = percent_decoded(segment);
  if (decoded.find('\0') != std::string::npos) return "a NUL byte (%00) is not allowed";
  std::size_t start = 0;
  while (true) {
    const auto slash = decoded.find('/', start);
    const std::string_view part =
        std::string_view(decoded).substr(start, slash == std::string::npos ? slash : slash - start);
    if (part == "." || part == "..") {
      return "a " + in_quotes(part) + " segment is not allowed (percent-encoded as " +
             in_quotes(segment) + ")";
    }
    if (slash == std::string::npos) return "";
    start = slash + 1;
  }
}

std::string with_slashes(UriScheme scheme) {
  switch (scheme) {
    case UriScheme::kPvc: return "pvc://<claim>/<path>";
    case UriScheme::kFile: return "file:///<absolute path>";
    case UriScheme::kS3: return "s3://<bucket>/<key>";
    case UriScheme::kGs: return "gs://<bucket>/<key>";
    case UriScheme::kHttps: return "https://<host>/<path>";
    case UriScheme::kHttp: return "http://<host>/<path>";
  }
  return "";
}

bool web(UriScheme scheme) { return scheme == UriScheme::kHttps || scheme == UriScheme::kHttp; }

// The authority's presence and parts besides the name, the query and the fragment.
std::string authority_problem(const UriUriA& u, UriScheme scheme, std::string_view name) {
  if (!present(u.hostText)) return "expected " + with_slashes(scheme);
  if (present(u.userInfo)) {
    return "user info (\"...@\") is not allowed: credentials come from a Secret "
           "(storage.secretRef) or the pod's identity";
  }
  if (present(u.fragment)) return "a fragment (#...) is not allowed";
  if (present(u.query) && !web(scheme)) {
    return "a query (?...) is not allowed on " + std::string(name) + "://";
  }
  if (present(u.portText)) {
    if (!web(scheme)) return "a port is not allowed on " + std::string(name) + "://";
    const std::string_view port = text(u.portText);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return "port " + in_quotes(port) + " is not in 1-65535";
    }
  }
  return "";
}

// The claim, bucket or host: checked after the path, so a traversal is named first.
std::string name_problem(const UriUriA& u, UriScheme scheme) {
  const std::string_view host = text(u.hostText);
  switch (scheme) {
    case UriScheme::kFile:
      if (!host.empty()) return "file:// takes no host: expected file:///<absolute path>";
      return "";
    case UriScheme::kPvc:
      if (host.empty()) return "no claim: expected pvc://<claim>/<path>";
      if (!dns_label(host)) {
        return "claim " + in_quotes(host) +
               " is not a DNS label (RFC 1123: at most 63 of a-z, 0-9 and '-', starting and "
               "ending with a letter or digit)";
      }
      return "";
    case UriScheme::kS3:
    case UriScheme::kGs:
      if (host.empty()) return "no bucket: expected " + with_slashes(scheme);
      if (u.hostData.ip4 != nullptr) return "bucket " + in_quotes(host) + " is an IP address";
      return bucket_problem(host, scheme == UriScheme::kGs);
    case UriScheme::kHttps:
    case UriScheme::kHttp:
      if (host.empty()) return "no host: expected " + with_slashes(scheme);
      if (u.hostData.ip4 != nullptr || u.hostData.ip6 != nullptr) return "";
      if (present(u.hostData.ipFuture) || !host_name(host)) {
        return "host " + in_quotes(host) + " is not a DNS name or an IP address";
      }
      return "";
  }
  return "";
}

// Dot segments anywhere; for every scheme but http(s) also an empty segment ("//") before the
// last, which would make a key or path start with '/'.
std::string path_problem(const UriUriA& u, UriScheme scheme) {
  for (const UriPathSegmentA* s = u.pathHead; s != nullptr; s = s->next) {
    const std::string_view segment = text(s->text);
    if (auto problem = segment_problem(segment); !problem.empty()) return problem;
    if (segment.empty() && s->next != nullptr && !web(scheme)) {
      return "an empty path segment (\"//\") is not allowed";
    }
  }
  if (scheme == UriScheme::kFile) {
    const bool named = u.pathHead != nullptr && !text(u.pathHead->text).empty();
    if (!named) return "no path: expected file:///<absolute path>";
  }
  return "";
}

// What follows the authority: "" or "/...", with "?query" for http(s) (the authority holds no
// '/', '?' or '#', and user info, the only part that may hold '@', is refused).
std::string_view after_authority(std::string_view uri, std::string_view name) {
  const std::size_t start = name.size() + 3;  // "<scheme>://"
  const auto end = uri.find_first_of("/?", start);
  return end == std::string_view::npos ? std::string_view() : uri.substr(end);
}

std::string host_of(const UriUriA& u) {
  const bool bracketed = u.hostData.ip6 != nullptr;
  std::string host;
  if (bracketed) host.append(1, '[');
  host.append(text(u.hostText));
  if (bracketed) host.append(1, ']');
  if (present(u.portText)) host.append(1, ':').append(text(u.portText));
  return host;
}

}  // namespace

std::string StorageUri::basename() const {
  std::string_view p = path;
  if (const auto q = p.find('?'); q != std::string_view::npos) p = p.substr(0, q);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  const auto slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

std::string join_uri(std::string_view prefix, std::string_view name) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  return std::string(prefix) + "/" + std::string(name);
}

Result<StorageUri> parse_storage_uri(std::string_view uri, const UriPolicy& policy) {
  if (uri.empty()) return Error::invalid_input("empty URI: " + std::string(kExpected));
  if (uri.size() > kMaxUriBytes) {
    return invalid(uri, "longer than " + std::to_string(kMaxUriBytes) + " bytes");
  }
  ParsedUri parsed;
  const char* error_pos = nullptr;
  if (const int rc = parsed.parse(uri, &error_pos); rc != URI_SUCCESS) {
    if (rc == URI_ERROR_SYNTAX && error_pos != nullptr) {
      const auto at = static_cast<std::size_t>(error_pos - uri.data());
      const unsigned char c = at < uri.size() ? static_cast<unsigned char>(uri[at]) : 0;
      std::string what = c >= 0x21 && c < 0x7f ? in_quotes(std::string(1, static_cast<char>(c)))
                                                : "byte " + std::to_string(c);
      return invalid(uri, "not a URI (RFC 3986): " + what + " at offset " + std::to_string(at));
    }
    return invalid(uri, "not a URI (RFC 3986)");
  }
  const UriUriA& u = parsed.get();
  const std::string_view name = text(u.scheme);
  if (!present(u.scheme)) return invalid(uri, "no scheme: " + std::string(kExpected));
  const auto* known = std::find_if(std::begin(kSchemes), std::end(kSchemes),
                                   [&](const SchemeName& s) { return s.name == name; });
  if (known == std::end(kSchemes)) {
    return invalid(uri,
                   "scheme " + in_quotes(name) + " is not supported: " + std::string(kExpected));
  }
  const UriScheme scheme = known->scheme;
  if (scheme == UriScheme::kHttp && !policy.allow_http) {
    return invalid(uri, "http:// is not allowed (use https://, or allow http with the chart value "
                        "storage.allowHttp)");
  }
  if (auto problem = authority_problem(u, scheme, name); !problem.empty()) {
    return invalid(uri, problem);
  }
  if (auto problem = path_problem(u, scheme); !problem.empty()) return invalid(uri, problem);
  if (auto problem = name_problem(u, scheme); !problem.empty()) return invalid(uri, problem);

  StorageUri out;
  out.scheme = scheme;
  const std::string_view rest = after_authority(uri, name);
  const std::string_view relative = rest.starts_with('/') ? rest.substr(1) : rest;
  switch (scheme) {
    case UriScheme::kPvc:
      out.claim = std::string(text(u.hostText));
      out.path = std::string(relative);
      while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
      out.local_path = std::string(kMountRoot) + "/" + out.claim;
      if (!out.path.empty()) out.local_path += "/" + out.path;
      break;
    case UriScheme::kFile:
      out.path = std::string(rest);
      out.local_path = out.path;
      break;
    case UriScheme::kS3:
    case UriScheme::kGs:
      out.bucket = std::string(text(u.hostText));
      out.path = std::string(relative);
      break;
    case UriScheme::kHttps:
    case UriScheme::kHttp:
      out.host = host_of(u);
      out.path = rest.starts_with('/') ? std::string(rest) : "/" + std::string(rest);
      break;
  }
  return out;
}

std::string uri_for_local_path(std::string_view local_path) {
  const std::string root = std::string(kMountRoot) + "/";
  if (local_path.starts_with(root)) return "pvc://" + std::string(local_path.substr(root.size()));
  return "file://" + std::string(local_path);
}

json claim_volume(const std::string& claim, bool read_only) {
  return {{"name", claim},
          {"persistentVolumeClaim", {{"claimName", claim}, {"readOnly", read_only}}}};
}

json claim_mount(const std::string& claim, bool read_only) {
  return {{"name", claim},
          {"mountPath", std::string(kMountRoot) + "/" + claim},
          {"readOnly", read_only}};
}

}  // namespace kiln::controllers
