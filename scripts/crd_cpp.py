"""C++ types of Kiln's kinds, written from the same OpenAPI schemas that scripts/gen-crds.py writes
into the CRDs, so a field's name, type, default, enum and bounds have one definition.

For every object schema a struct, for every string enum an `enum class` with `to_string` and
`parse_<Enum>`, and for each struct a `decode` (JSON -> struct: the schema's defaults applied,
required fields, enum values, bounds and unknown fields checked, every error naming the field path
such as `spec.canary.trafficPercent`) and a `to_json` (struct -> JSON, absent optionals omitted).

Mapping (OpenAPI -> C++):
  object with properties        struct (name from the `x-kiln-type` hint, else parent + field)
  string / integer / number     std::string / int32_t or int64_t / double
  boolean                       bool
  string with enum              enum class (name from `x-kiln-enum`, else struct + field)
  array                         std::vector<T>
  preserve-unknown-fields       nlohmann::json (also int-or-string and `x-kiln-type: json`)
  additionalProperties: string  std::map<std::string, std::string> (number: double)
  not required, no default      std::optional<T> (arrays and maps: empty when absent)

Hints (`x-kiln-*` keys) are removed from the CRDs before they are written.
"""
import re

HINT_TYPE = "x-kiln-type"
HINT_ENUM = "x-kiln-enum"


def strip_hints(node):
    """A copy of `node` without the x-kiln-* keys (the API server refuses unknown schema keys)."""
    if isinstance(node, dict):
        return {k: strip_hints(v) for k, v in node.items() if not k.startswith("x-kiln-")}
    if isinstance(node, list):
        return [strip_hints(v) for v in node]
    return node


def camel(name):
    parts = re.split(r"[^0-9A-Za-z]+", name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = s.replace("-", "_").lower()
    return s + "_" if s in CPP_KEYWORDS else s


CPP_KEYWORDS = {"template", "default", "namespace", "class", "delete", "new", "operator", "private",
                "public", "register", "struct", "switch", "union", "when"}


def singular(name):
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name + "Item"


def enum_value(text):
    return "k" + camel(text)


def cpp_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Field:
    def __init__(self, name, cpp_type, kind, schema, required, optional):
        self.name = name              # JSON name
        self.member = snake(name)     # C++ member
        self.cpp_type = cpp_type      # C++ type without optional
        self.kind = kind              # struct, enum, scalar, vector, map, json
        self.schema = schema
        self.required = required
        self.optional = optional


class Generator:
    """Collects the structs and enums of a set of schemas, in dependency order."""

    def __init__(self, names):
        self.names = names  # "Kind.spec.path" (arrays: "path[]") -> C++ name, for derived names
        self.structs = {}   # name -> (schema, [Field]) in definition order
        self.enums = {}     # name -> [values]
        self.order = []     # ("struct"|"enum", name) in dependency order

    # -- type resolution ----------------------------------------------------------------------
    def enum_type(self, schema, owner, field, path):
        name = schema.get(HINT_ENUM) or self.names.get(path) or owner + camel(field)
        values = list(schema["enum"])
        if name in self.enums:
            if self.enums[name] != values:
                raise SystemExit(f"crd_cpp: enum {name} defined twice with other values")
        else:
            self.enums[name] = values
            self.order.append(("enum", name))
        return name

    def type_of(self, schema, owner, field, path, item=False):
        """(C++ type, kind) of `schema`, registering the structs and enums it needs."""
        hint = schema.get(HINT_TYPE)
        if hint == "json" or schema.get("x-kubernetes-preserve-unknown-fields") or \
                schema.get("x-kubernetes-int-or-string"):
            return "nlohmann::json", "json"
        t = schema.get("type")
        if t == "string":
            if "enum" in schema:
                return self.enum_type(schema, owner, field, path), "enum"
            return "std::string", "scalar"
        if t == "integer":
            return ("int64_t" if schema.get("format") == "int64" else "int32_t"), "scalar"
        if t == "number":
            return "double", "scalar"
        if t == "boolean":
            return "bool", "scalar"
        if t == "array":
            inner, _ = self.type_of(schema["items"], owner, singular(field) if not item else field,
                                    path + "[]", item=True)
            return f"std::vector<{inner}>", "vector"
        if t == "object":
            if "properties" in schema:
                name = hint or self.names.get(path) or owner + camel(field)
                self.struct(name, schema, path)
                return name, "struct"
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                if extra.get("type") == "string":
                    return "std::map<std::string, std::string>", "map"
                if extra.get("type") == "number":
                    return "std::map<std::string, double>", "map"
            return "nlohmann::json", "json"
        raise SystemExit(f"crd_cpp: no C++ type for {owner}.{field}: {schema}")

    def struct(self, name, schema, path):
        if name in self.structs:
            def shape(x):
                return {k: v for k, v in strip_hints(x).items() if k != "description"}
            if shape(self.structs[name][0]) != shape(schema):
                raise SystemExit(f"crd_cpp: struct {name} defined twice with other shapes")
            return
        self.structs[name] = (schema, None)  # Reserve the name (recursive shapes).
        required = set(schema.get("required", []))
        fields = []
        for fname, prop in schema.get("properties", {}).items():
            cpp_type, kind = self.type_of(prop, name, fname, f"{path}.{fname}")
            is_required = fname in required
            optional = (not is_required and "default" not in prop and
                        kind in ("struct", "enum", "scalar"))
            fields.append(Field(fname, cpp_type, kind, prop, is_required, optional))
        self.structs[name] = (schema, fields)
        self.order.append(("struct", name))

    # -- output -------------------------------------------------------------------------------
    def default_literal(self, f):
        d = f.schema.get("default")
        if d is None:
            return None
        if f.kind == "enum":
            return f"{f.cpp_type}::{enum_value(d)}"
        if isinstance(d, bool):
            return "true" if d else "false"
        if isinstance(d, (int, float)):
            return repr(d) if f.cpp_type == "double" and isinstance(d, float) else str(d)
        if isinstance(d, str):
            return cpp_string(d)
        raise SystemExit(f"crd_cpp: default of {f.name} is not a scalar")

    def member_type(self, f):
        return f"std::optional<{f.cpp_type}>" if f.optional else f.cpp_type

    def header(self, roots):
        out = []
        for what, name in self.order:
            if what == "enum":
                values = self.enums[name]
                out.append(f"enum class {name} {{ " + ", ".join(enum_value(v) for v in values) +
                           " };")
                out.append(f"// The JSON spelling of `value` (static storage).")
                out.append(f"std::string_view to_string({name} value) noexcept;")
                out.append(f"// The value spelled `text`, or nullopt when it is none of "
                           f"{', '.join(values)}.")
                out.append(f"std::optional<{name}> parse_{name}(std::string_view text) noexcept;")
                out.append(f"Result<void> decode(const nlohmann::json& j, std::string_view path, "
                           f"{name}& out);")
                out.append(f"void to_json(nlohmann::json& j, {name} value);")
                out.append("")
                continue
            schema, fields = self.structs[name]
            desc = schema.get("description", "")
            out += wrap_comment(desc)
            out.append(f"struct {name} {{")
            for f in fields:
                out += ["  " + line for line in wrap_comment(field_comment(f), 98)]
                init = self.default_literal(f)
                if f.optional:
                    init = ""
                elif init is not None:
                    init = f" = {init}"
                elif f.kind == "enum" or (f.kind == "scalar" and f.cpp_type != "std::string"):
                    init = "{}"
                else:
                    init = ""
                out.append(f"  {self.member_type(f)} {f.member}{init};")
            out.append("")
            out.append(f"  friend bool operator==(const {name}&, const {name}&) = default;")
            out.append("};")
            out.append(f"Result<void> decode(const nlohmann::json& j, std::string_view path, "
                       f"{name}& out);")
            out.append(f"void to_json(nlohmann::json& j, const {name}& value);")
            out.append("")
        for kind, spec, status in roots:
            out.append(f"// `object.spec` of a {kind}, decoded with its path named `spec`.")
            out.append(f"Result<{spec}> parse_{snake(kind)}_spec(const nlohmann::json& object);")
            out.append(f"// `object.status` of a {kind} (an empty status when it has none).")
            out.append(f"Result<{status}> parse_{snake(kind)}_status(const nlohmann::json& object);")
            out.append("")
        return out

    def source(self, roots):
        out = []
        for what, name in self.order:
            if what == "enum":
                values = self.enums[name]
                out.append(f"std::string_view to_string({name} value) noexcept {{")
                out.append("  switch (value) {")
                for v in values:
                    out.append(f"    case {name}::{enum_value(v)}: return {cpp_string(v)};")
                out.append("  }")
                out.append('  return "";')
                out.append("}")
                out.append(f"std::optional<{name}> parse_{name}(std::string_view text) noexcept {{")
                for v in values:
                    out.append(f"  if (text == {cpp_string(v)}) return {name}::{enum_value(v)};")
                out.append("  return std::nullopt;")
                out.append("}")
                out.append(f"Result<void> decode(const nlohmann::json& j, std::string_view path, "
                           f"{name}& out) {{")
                out.append("  std::string text;")
                out.append("  KILN_API_CHECK(decode(j, path, text));")
                out.append(f"  auto value = parse_{name}(text);")
                out.append("  if (!value) {")
                out.append(f"    return detail::field_error(path, \"unsupported value \\\"\" + text + "
                           f"\"\\\": supported values: {', '.join(values)}\");")
                out.append("  }")
                out.append("  out = *value;")
                out.append("  return Ok();")
                out.append("}")
                out.append(f"void to_json(nlohmann::json& j, {name} value) {{ j = to_string(value); }}")
                out.append("")
                continue
            _, fields = self.structs[name]
            known = ", ".join(cpp_string(f.name) for f in fields)
            out.append(f"Result<void> decode(const nlohmann::json& j, std::string_view path, "
                       f"{name}& out) {{")
            out.append(f"  static constexpr std::string_view kFields[] = {{{known}}};")
            out.append("  KILN_API_CHECK(detail::expect_object(j, path, kFields));")
            for f in fields:
                out.append(f"  if (const auto* v = detail::member(j, {cpp_string(f.name)})) {{")
                out.append(f"    const std::string at = detail::join(path, {cpp_string(f.name)});")
                out.append(f"    KILN_API_CHECK(decode(*v, at, out.{f.member}));")
                for check in bounds(f):
                    out.append("    " + check)
                if f.required:
                    out.append("  } else {")
                    out.append(f"    return detail::field_error(detail::join(path, "
                               f"{cpp_string(f.name)}), \"is required\");")
                out.append("  }")
            out.append("  return Ok();")
            out.append("}")
            out.append(f"void to_json(nlohmann::json& j, const {name}& value) {{")
            out.append("  j = nlohmann::json::object();")
            for f in fields:
                if f.optional:
                    out.append(f"  if (value.{f.member}) j[{cpp_string(f.name)}] = *value.{f.member};")
                elif f.kind in ("vector", "map"):
                    out.append(f"  if (!value.{f.member}.empty()) j[{cpp_string(f.name)}] = "
                               f"value.{f.member};")
                elif f.kind == "json":
                    out.append(f"  if (!value.{f.member}.is_null()) j[{cpp_string(f.name)}] = "
                               f"value.{f.member};")
                else:
                    out.append(f"  j[{cpp_string(f.name)}] = value.{f.member};")
            out.append("}")
            out.append("")
        for kind, spec, status in roots:
            out.append(f"Result<{spec}> parse_{snake(kind)}_spec(const nlohmann::json& object) {{")
            out.append(f"  {spec} spec;")
            out.append('  const auto* j = object.is_object() ? detail::member(object, "spec") : nullptr;')
            out.append('  if (j == nullptr) return detail::field_error("spec", "is required");')
            out.append('  KILN_API_CHECK(decode(*j, "spec", spec));')
            out.append("  return spec;")
            out.append("}")
            out.append(f"Result<{status}> parse_{snake(kind)}_status(const nlohmann::json& object) {{")
            out.append(f"  {status} status;")
            out.append('  const auto* j = object.is_object() ? detail::member(object, "status") : nullptr;')
            out.append('  if (j != nullptr) KILN_API_CHECK(decode(*j, "status", status));')
            out.append("  return status;")
            out.append("}")
            out.append("")
        return out


def bounds(f):
    checks = []
    s = f.schema
    target = f"*out.{f.member}" if f.optional else f"out.{f.member}"
    if f.kind == "scalar" and f.cpp_type != "std::string" and f.cpp_type != "bool":
        if "minimum" in s:
            checks.append(f"KILN_API_CHECK(detail::at_least(at, {target}, {s['minimum']}));")
        if "maximum" in s:
            checks.append(f"KILN_API_CHECK(detail::at_most(at, {target}, {s['maximum']}));")
    if f.kind == "scalar" and f.cpp_type == "std::string" and "maxLength" in s:
        checks.append(f"KILN_API_CHECK(detail::max_length(at, {target}, {s['maxLength']}));")
    if f.kind == "vector" and "maxItems" in s:
        checks.append(f"KILN_API_CHECK(detail::max_items(at, out.{f.member}.size(), {s['maxItems']}));")
    if f.kind == "vector" and "minItems" in s:
        checks.append(f"KILN_API_CHECK(detail::min_items(at, out.{f.member}.size(), {s['minItems']}));")
    return checks


def field_comment(f):
    notes = [f.schema.get("description", "").strip()]
    if "default" in f.schema:
        notes.append(f"Default {f.schema['default']}.")
    if f.required:
        notes.append("Required.")
    return " ".join(n for n in notes if n)


def wrap_comment(text, width=100):
    words = text.split()
    lines, line = [], "//"
    for w in words:
        if len(line) + 1 + len(w) > width:
            lines.append(line)
            line = "//"
        line += " " + w
    if line != "//":
        lines.append(line)
    return lines


PREAMBLE = """// Generated by scripts/gen-crds.py from the CRD schemas; do not edit.
"""


def render(crds, header_name, names):
    """(header text, source text) for the kinds of `crds`; `names` maps schema paths to C++ names
    ("ModelDeployment.spec.canary" -> "CanarySpec")."""
    g = Generator(names)
    roots = []
    for c in crds:
        kind = c["spec"]["names"]["kind"]
        props = c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        g.struct(kind + "Spec", props["spec"], kind + ".spec")
        g.struct(kind + "Status", props["status"], kind + ".status")
        roots.append((kind, kind + "Spec", kind + "Status"))
    h = [PREAMBLE.rstrip(), "//",
         "// The kinds of kiln.dev/v1alpha1 as C++ values: one struct per object of the schema, its",
         "// defaults as member initialisers, `decode` from JSON (errors are invalid-input and name the",
         "// field path), `to_json` back. Plain values: copies are independent, no shared state.",
         "#pragma once", "", "#include <cstdint>", "#include <map>", "#include <optional>",
         "#include <string>", "#include <string_view>", "#include <vector>", "",
         "#include <nlohmann/json.hpp>", "", '#include "src/common/result.h"', "",
         "namespace kiln::api::v1alpha1 {", ""]
    h += g.header(roots)
    h += ["}  // namespace kiln::api::v1alpha1", ""]
    s = [PREAMBLE.rstrip(), f'#include "{header_name}"', "",
         '#include "controllers/api/decode.h"', "", "namespace kiln::api::v1alpha1 {", "",
         "using detail::decode;", ""]
    s += g.source(roots)
    s += ["}  // namespace kiln::api::v1alpha1", ""]
    return "\n".join(h), "\n".join(s)
