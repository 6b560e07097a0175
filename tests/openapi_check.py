#!/usr/bin/env python3
"""Checks web/openapi.json and validates recorded answers of the real server against it.

    openapi_check.py OPENAPI_JSON EXCHANGES_JSON SOURCE_DIR

EXCHANGES_JSON is a list of {method, path, status, contentType, body, json} written by
tests/openapi_test.cc. Checked, each failure printed:
  1. the document: OpenAPI 3.1, info, every operation with responses and descriptions, path
     parameters declared, every schema valid JSON Schema 2020-12, every $ref resolvable;
  2. coverage: each route of src/http/server.cc (AddRoute) is documented and each documented
     path is a route; each error code of src/http/api.cc (kErrorCodes) is in the Error schema
     and documented with its HTTP status; every documented operation was exercised;
  3. every answer: its status is documented for its operation, its content type is
     documented, and a JSON body validates against the documented schema.
Uses Debian's python3-jsonschema (scripts/setup.sh installs it). Exits 1 on any failure.
"""
import json
import re
import sys

try:
    from jsonschema import Draft202012Validator, RefResolver
except ImportError:
    print("openapi_check: python3-jsonschema is missing (apt-get install python3-jsonschema; "
          "scripts/setup.sh installs it)")
    sys.exit(1)

doc_path, exchanges_path, src = sys.argv[1:4]
doc = json.load(open(doc_path))
exchanges = json.load(open(exchanges_path))
errors = []
resolver = RefResolver.from_schema(doc)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolver.resolve(node["$ref"])[1]
    return node


def walk_refs(node, where):
    if isinstance(node, dict):
        if "$ref" in node:
            try:
                resolver.resolve(node["$ref"])
            except Exception as e:  # noqa: BLE001 - any resolution failure is reported
                errors.append(f"{where}: unresolvable $ref {node['$ref']}: {e}")
        for k, v in node.items():
            walk_refs(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_refs(v, f"{where}/{i}")


# ---------------------------------------------------------------- 1. the document
if not str(doc.get("openapi", "")).startswith("3.1."):
    errors.append(f"openapi is {doc.get('openapi')!r}, not 3.1.x")
for key in ("title", "version"):
    if not doc.get("info", {}).get(key):
        errors.append(f"info.{key} is missing")
walk_refs(doc, "#")
schemas = dict(doc.get("components", {}).get("schemas", {}))
for path, item in doc.get("paths", {}).items():
    declared = set(re.findall(r"\{(\w+)\}", path))
    for method, op in item.items():
        if method not in METHODS:
            errors.append(f"{path}: unknown key {method}")
            continue
        where = f"{method.upper()} {path}"
        if not op.get("operationId") or not op.get("summary"):
            errors.append(f"{where}: operationId and summary are required here")
        params = [resolve(p) for p in op.get("parameters", [])]
        for p in params:
            if not {"name", "in", "schema"} <= set(p):
                errors.append(f"{where}: parameter {p} lacks name, in or schema")
            schemas[f"{where} parameter {p.get('name')}"] = p.get("schema", {})
        in_path = {p["name"] for p in params if p.get("in") == "path"}
        if in_path != declared:
            errors.append(f"{where}: path parameters {sorted(in_path)} != {sorted(declared)}")
        if any(p.get("in") == "path" and not p.get("required") for p in params):
            errors.append(f"{where}: a path parameter must be required")
        responses = op.get("responses", {})
        if not responses:
            errors.append(f"{where}: no responses")
        for status, r in responses.items():
            r = resolve(r)
            if not r.get("description"):
                errors.append(f"{where} {status}: no description")
            for ctype, media in r.get("content", {}).items():
                schemas[f"{where} {status} {ctype}"] = media.get("schema", {})
for name, schema in schemas.items():
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as e:  # noqa: BLE001
        errors.append(f"schema {name} is not valid JSON Schema 2020-12: {str(e).splitlines()[0]}")

# ---------------------------------------------------------------- 2. coverage
server = open(f"{src}/src/http/server.cc").read()
routes = set()
for method, pattern in re.findall(r'AddRoute\("(\w+)", "([^"]+)"', server):
    path = re.sub(r":(\w+)", r"{\1}", pattern).replace("/*", "/{path}")
    routes.add((method.lower(), path))
documented = {(m, p) for p, item in doc["paths"].items() for m in item if m in METHODS}
for r in sorted(routes - documented):
    errors.append(f"route {r[0].upper()} {r[1]} of server.cc is not documented")
for r in sorted(documented - routes):
    errors.append(f"documented {r[0].upper()} {r[1]} is no route of server.cc")

api = open(f"{src}/src/http/api.cc").read()
table = api[api.index("kErrorCodes[] = {"):]
table = table[:table.index("};")]
codes = dict((c, int(s)) for c, s in re.findall(r'\{"(\w+)", (\d+)\}', table))
enum = set(resolve({"$ref": "#/components/schemas/Error"})["properties"]["error"]["properties"]
           ["code"]["enum"])
if set(codes) != enum:
    errors.append(f"Error.code enum {sorted(enum)} != kErrorCodes {sorted(codes)}")
documented_codes = set()
for item in doc["paths"].values():
    for method, op in item.items():
        for status, r in op.get("responses", {}).items():
            text = json.dumps(resolve(r))
            for code, http in codes.items():
                if str(http) == status and f'"{code}"' in text:
                    documented_codes.add(code)
for code in sorted(set(codes) - documented_codes):
    errors.append(f"error code {code} ({codes[code]}) is documented on no operation")


# ---------------------------------------------------------------- 3. the answers
def template_of(path):
    for t in doc["paths"]:
        rx = re.escape(t).replace(r"\{path\}", ".+")
        rx = re.sub(r"\\\{\w+\\\}", "[^/]+", rx)
        if re.fullmatch(rx, path):
            return t
    return None


def media_matches(documented_type, actual):
    if documented_type == "*/*":
        return True
    return actual.replace(" ", "").lower() == documented_type.replace(" ", "").lower()


exercised = set()
valid = 0
for x in exchanges:
    where = f"{x['method']} {x['path']} -> {x['status']}"
    t = template_of(x["path"])
    op = doc["paths"].get(t, {}).get(x["method"].lower()) if t else None
    if op is None:
        # An unknown path is 404 and a known one with another method 405: both documented
        # as errors every route may answer.
        body = x["body"] if isinstance(x["body"], dict) else {}
        if x["status"] in (404, 405) and body.get("error", {}).get("code") in (
                "not_found", "method_not_allowed"):
            valid += 1
        else:
            errors.append(f"{where}: no documented operation")
        continue
    exercised.add((x["method"].lower(), t))
    response = op["responses"].get(str(x["status"]))
    if response is None:
        errors.append(f"{where}: status not documented (has {sorted(op['responses'])})")
        continue
    response = resolve(response)
    content = response.get("content", {})
    media = [m for m in content if media_matches(m, x["contentType"])]
    if not media:
        errors.append(f"{where}: content type {x['contentType']!r} not in {sorted(content)}")
        continue
    if x["json"]:
        validator = Draft202012Validator(content[media[0]]["schema"], resolver=resolver)
        problems = sorted(validator.iter_errors(x["body"]), key=lambda e: list(e.path))
        for p in problems[:3]:
            errors.append(f"{where}: {'/'.join(map(str, p.path))}: {p.message[:200]}")
        if problems:
            continue
    valid += 1
for m, p in sorted(documented - exercised):
    errors.append(f"{m.upper()} {p} was not exercised by the test")

for e in errors:
    print("FAIL", e)
print(f"{valid} answers valid, {len(exchanges) - valid} not; {len(routes)} routes, "
      f"{len(codes)} error codes; {len(errors)} problem(s)")
sys.exit(1 if errors else 0)
