#include "controllers/datapipeline/expr.h"

#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

namespace kiln::controllers::datapipeline {

namespace {

constexpr int kMaxDepth = 64;  // Nesting of "(" and "!": deeper is rejected, not recursed.

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

// A piece of an operand: literal text, or a {{reference}} (its trimmed name).
struct Piece {
  bool reference = false;
  std::string text;
  std::size_t pos = 0;
};

struct Operand {
  std::vector<Piece> pieces;
  std::size_t pos = 0;
};

struct Token {
  enum class Kind { kEnd, kOperand, kCompare, kAnd, kOr, kNot, kOpen, kClose } kind = Kind::kEnd;
  std::string op;  // For kCompare.
  Operand operand;
  std::size_t pos = 0;
};

struct Node {
  enum class Kind { kOr, kAnd, kNot, kCompare, kValue } kind = Kind::kValue;
  std::string op;
  Operand left, right;
  std::vector<Node> children;
  std::size_t pos = 0;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool ends_word(char c) {
  return is_space(c) || std::string_view("()!=<>&|").find(c) != std::string_view::npos;
}

// Reads the expression into tokens, or the first lexical error.
class Lexer {
 public:
  explicit Lexer(const std::string& expr) : s_(expr) {}

  Result<std::vector<Token>> run() {
    std::vector<Token> out;
    while (true) {
      while (i_ < s_.size() && is_space(s_[i_])) ++i_;
      if (i_ >= s_.size()) break;
      KILN_TRY(Token t, next());
      out.push_back(std::move(t));
    }
    Token end;
    end.pos = s_.size();
    out.push_back(end);
    return out;
  }

 private:
  Error error(const std::string& what, std::size_t pos) const {
    return Error::invalid_input("when \"" + s_ + "\": " + what + " at position " +
                                std::to_string(pos));
  }

  bool starts(std::string_view p) const { return s_.compare(i_, p.size(), p) == 0; }

  Result<Token> next() {
    Token t;
    t.pos = i_;
    using K = Token::Kind;
    for (const char* op : {"==", "!=", "<=", ">="}) {
      if (starts(op)) {
        t.kind = K::kCompare;
        t.op = op;
        i_ += 2;
        return t;
      }
    }
    if (starts("&&") || starts("||")) {
      t.kind = starts("&&") ? K::kAnd : K::kOr;
      i_ += 2;
      return t;
    }
    const char c = s_[i_];
    if (c == '<' || c == '>') {
      t.kind = K::kCompare;
      t.op = std::string(1, c);
    } else if (c == '!' || c == '(' || c == ')') {
      t.kind = c == '!' ? K::kNot : c == '(' ? K::kOpen : K::kClose;
    } else if (c == '=' || c == '&' || c == '|') {
      return error(std::string("single '") + c + "' (write " + c + c + ")", i_);
    } else {
      t.kind = K::kOperand;
      KILN_TRY(t.operand, operand());
      return t;
    }
    ++i_;
    return t;
  }

  // Adjacent {{references}}, quoted strings and bare text up to a space or an operator.
  Result<Operand> operand() {
    Operand o;
    o.pos = i_;
    while (i_ < s_.size() && !ends_word(s_[i_])) {
      if (s_[i_] == '\'' || s_[i_] == '"') {
        const char quote = s_[i_];
        const std::size_t open = i_++;
        while (i_ < s_.size() && s_[i_] != quote) {
          KILN_TRY(bool ok, piece(o));
          (void)ok;
        }
        if (i_ >= s_.size()) return error("unterminated string", open);
        ++i_;
        if (o.pieces.empty()) o.pieces.push_back({false, "", open});  // '' is an empty value.
        continue;
      }
      KILN_TRY(bool ok, piece(o));
      (void)ok;
    }
    return o;
  }

  // One reference or one literal character, appended to `o`.
  Result<bool> piece(Operand& o) {
    if (starts("{{")) {
      const auto close = s_.find("}}", i_ + 2);
      if (close == std::string::npos) return error("unclosed {{", i_);
      const std::string name = trim(s_.substr(i_ + 2, close - i_ - 2));
      if (name.empty()) return error("empty reference {{}}", i_);
      o.pieces.push_back({true, name, i_});
      i_ = close + 2;
      return true;
    }
    if (o.pieces.empty() || o.pieces.back().reference) o.pieces.push_back({false, "", i_});
    o.pieces.back().text += s_[i_++];
    return true;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

// Recursive descent over the tokens (grammar in expr.h).
class Parser {
 public:
  Parser(const std::string& expr, std::vector<Token> tokens)
      : expr_(expr), tokens_(std::move(tokens)) {}

  Result<Node> run() {
    KILN_TRY(Node n, parse_or(0));
    if (peek().kind != Token::Kind::kEnd) return error("unexpected " + describe(peek()));
    return n;
  }

 private:
  using K = Token::Kind;

  const Token& peek() const { return tokens_[at_]; }
  Token take() { return tokens_[at_++]; }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case K::kEnd: return "end of expression";
      case K::kOperand: return "operand";
      case K::kCompare: return "'" + t.op + "'";
      case K::kAnd: return "'&&'";
      case K::kOr: return "'||'";
      case K::kNot: return "'!'";
      case K::kOpen: return "'('";
      case K::kClose: return "')'";
    }
    return "token";
  }

  Error error(const std::string& what) const {
    return Error::invalid_input("when \"" + expr_ + "\": " + what + " at position " +
                                std::to_string(peek().pos));
  }

  Result<Node> parse_or(int depth) { return parse_chain(depth, K::kOr, Node::Kind::kOr); }

  Result<Node> parse_and(int depth) { return parse_chain(depth, K::kAnd, Node::Kind::kAnd); }

  // `sub (sep sub)*`, where sub is `and` below `or` and `unary` below `and`.
  Result<Node> parse_chain(int depth, K sep, Node::Kind kind) {
    auto sub = [&]() { return kind == Node::Kind::kOr ? parse_and(depth) : parse_unary(depth); };
    Node chain;
    chain.kind = kind;
    chain.pos = peek().pos;
    KILN_TRY(Node first, sub());
    chain.children.push_back(std::move(first));
    while (peek().kind == sep) {
      take();
      KILN_TRY(Node next, sub());
      chain.children.push_back(std::move(next));
    }
    if (chain.children.size() == 1) return std::move(chain.children.front());
    return chain;
  }

  Result<Node> parse_unary(int depth) {
    if (depth >= kMaxDepth) return error("nested deeper than " + std::to_string(kMaxDepth));
    const Token& t = peek();
    if (t.kind == K::kNot) {
      Node n;
      n.kind = Node::Kind::kNot;
      n.pos = take().pos;
      KILN_TRY(Node inner, parse_unary(depth + 1));
      n.children.push_back(std::move(inner));
      return n;
    }
    if (t.kind == K::kOpen) {
      take();
      KILN_TRY(Node inner, parse_or(depth + 1));
      if (peek().kind != K::kClose) return error("expected ')', got " + describe(peek()));
      take();
      return inner;
    }
    return parse_compare();
  }

  Result<Node> parse_compare() {
    if (peek().kind != K::kOperand) return error("expected an operand, got " + describe(peek()));
    Node n;
    n.pos = peek().pos;
    n.left = take().operand;
    if (peek().kind != K::kCompare) return n;  // kValue: true or false alone.
    n.kind = Node::Kind::kCompare;
    n.op = take().op;
    if (peek().kind != K::kOperand) {
      return error("expected an operand after '" + n.op + "', got " + describe(peek()));
    }
    n.right = take().operand;
    return n;
  }

  const std::string& expr_;
  std::vector<Token> tokens_;
  std::size_t at_ = 0;
};

Result<Node> parse(const std::string& expr) {
  KILN_TRY(std::vector<Token> tokens, Lexer(expr).run());
  return Parser(expr, std::move(tokens)).run();
}

void collect(const Node& n, std::vector<const Piece*>& refs) {
  for (const Operand* o : {&n.left, &n.right}) {
    for (const Piece& p : o->pieces) {
      if (p.reference) refs.push_back(&p);
    }
  }
  for (const Node& c : n.children) collect(c, refs);
}

std::string value_of(const Operand& o, const Variables& vars) {
  std::string out;
  for (const Piece& p : o.pieces) out += p.reference ? vars.at(p.text) : p.text;
  return out;
}

// Every reference is known (checked before), so evaluation cannot fail but for a bare value.
Result<bool> eval(const std::string& expr, const Node& n, const Variables& vars) {
  switch (n.kind) {
    case Node::Kind::kOr:
    case Node::Kind::kAnd: {
      const bool is_or = n.kind == Node::Kind::kOr;
      for (const Node& c : n.children) {
        KILN_TRY(bool v, eval(expr, c, vars));
        if (v == is_or) return is_or;
      }
      return !is_or;
    }
    case Node::Kind::kNot: {
      KILN_TRY(bool v, eval(expr, n.children.front(), vars));
      return !v;
    }
    case Node::Kind::kCompare: {
      const std::string left = value_of(n.left, vars);
      const std::string right = value_of(n.right, vars);
      const auto a = as_number(left);
      const auto b = as_number(right);
      if (a && b) return compare(*a, n.op, *b);
      return compare(left, n.op, right);
    }
    case Node::Kind::kValue: {
      const std::string v = value_of(n.left, vars);
      if (v == "true") return true;
      if (v == "false") return false;
      return Error::invalid_input("when \"" + expr + "\": expected a comparison or true/false, " +
                                  "got \"" + v + "\" at position " + std::to_string(n.pos));
    }
  }
  return false;
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

Result<std::set<std::string>> when_references(const std::string& expr) {
  KILN_TRY(Node tree, parse(expr));
  std::vector<const Piece*> refs;
  collect(tree, refs);
  std::set<std::string> names;
  for (const Piece* p : refs) names.insert(p->text);
  return names;
}

Result<bool> evaluate_when(const std::string& expr, const Variables& vars) {
  KILN_TRY(Node tree, parse(expr));
  std::vector<const Piece*> refs;
  collect(tree, refs);
  for (const Piece* p : refs) {
    if (!vars.contains(p->text)) {
      return Error::invalid_input("when \"" + expr + "\": unknown variable {{" + p->text +
                                  "}} at position " + std::to_string(p->pos));
    }
  }
  return eval(expr, tree, vars);
}

}  // namespace kiln::controllers::datapipeline
