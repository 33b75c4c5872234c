#include "controllers/datapipeline/expr.h"

#include <array>
#include <cstdlib>
#include <optional>

namespace kiln::controllers::datapipeline {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\n");
  std::string out = s.substr(b, e - b + 1);
  if (out.size() >= 2 && (out.front() == '"' || out.front() == '\'') && out.back() == out.front()) {
    out = out.substr(1, out.size() - 2);
  }
  return out;
}

std::optional<double> as_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

template <class T>
bool compare(const T& a, const std::string& op, const T& b) {
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;
}

}  // namespace

Result<std::string> substitute(const std::string& text, const Variables& vars) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = text.find("{{", pos);
    if (open == std::string::npos) break;
    const auto close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    out += text.substr(pos, open - pos);
    const std::string name = trim(text.substr(open + 2, close - open - 2));
    const auto it = vars.find(name);
    if (it == vars.end()) return Error::invalid_input("unknown variable {{" + name + "}}");
    out += it->second;
    pos = close + 2;
  }
  return out + text.substr(pos);
}

Result<bool> evaluate_when(const std::string& expr, const Variables& vars) {
  KILN_TRY(std::string text, substitute(expr, vars));
  const std::string whole = trim(text);
  if (whole == "true") return true;
  if (whole == "false") return false;
  // Two-character operators first, so "<=" is not read as "<".
  static const std::array<std::string, 6> kOps = {"==", "!=", "<=", ">=", "<", ">"};
  for (const std::string& op : kOps) {
    const auto at = text.find(op);
    if (at == std::string::npos) continue;
    const std::string left = trim(text.substr(0, at));
    const std::string right = trim(text.substr(at + op.size()));
    if (left.empty() || right.empty()) {
      return Error::invalid_input("when \"" + expr + "\": empty side of " + op);
    }
    const auto a = as_number(left);
    const auto b = as_number(right);
    if (a && b) return compare(*a, op, *b);
    return compare(left, op, right);
  }
  return Error::invalid_input("when \"" + expr + "\": expected A op B with op in == != < <= > >=");
}

}  // namespace kiln::controllers::datapipeline
