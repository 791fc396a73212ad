#!/usr/bin/env python3
"""check-ecs.py SCHEMA ECS_FIELDS: every field of the event schema outside
`bind` must be an ECS field (Tests/fixtures/ecs-fields.json: ECS's own flat
definitions, elastic/ecs generated/ecs/ecs_flat.yml, Apache-2.0) with a JSON
type that fits its ECS type, an array exactly where ECS normalizes it to one,
and only values ECS allows where it lists them. Prints one line per problem
and exits 1 if any; prints the count of fields checked otherwise."""
import json
import sys

JSON_TYPES = {"keyword": "string", "wildcard": "string", "text": "string", "match_only_text": "string",
              "constant_keyword": "string", "ip": "string", "date": "string", "long": "integer",
              "integer": "integer", "short": "integer", "byte": "integer", "unsigned_long": "integer",
              "float": "number", "double": "number", "scaled_float": "number", "boolean": "boolean"}


def leaves(node, path=""):
    """(dotted path, schema) of every non-object field; `bind` is bindsnoop's own."""
    properties = node.get("properties")
    if node.get("type") == "object" or properties:
        for name, child in (properties or {}).items():
            if not path and name == "bind":
                continue
            yield from leaves(child, f"{path}.{name}" if path else name)
    else:
        yield path, node


def values(node):
    """The values a schema node allows, where it lists them."""
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return node["enum"]
    return None


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    ecs = json.load(open(sys.argv[2]))
    problems, checked = [], 0
    for path, node in leaves(schema):
        checked += 1
        field = ecs.get(path)
        if field is None:
            problems.append(f"{path}: not an ECS field (bindsnoop's own fields belong under bind)")
            continue
        is_array = node.get("type") == "array"
        item = node.get("items", {}) if is_array else node
        if is_array != ("array" in (field.get("normalize") or [])):
            problems.append(f"{path}: ECS {'normalizes it to an array' if not is_array else 'has no array'} here")
        expected = JSON_TYPES.get(field["type"])
        actual = item.get("type") or ("string" if all(isinstance(v, str) for v in values(item) or [0]) else None)
        if expected and actual != expected:
            problems.append(f"{path}: JSON {actual}, ECS {field['type']} wants {expected}")
        allowed = field.get("allowed")
        listed = values(item)
        if allowed and listed:
            names = {a["name"] if isinstance(a, dict) else a for a in allowed}
            for value in listed:
                if value not in names:
                    problems.append(f"{path}: {value!r} is not among ECS's allowed values")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{checked} fields checked against ECS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
