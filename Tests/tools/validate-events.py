#!/usr/bin/env python3
"""validate-events.py SCHEMA [FILE]: checks every NDJSON line (stdin by
default) against the JSON Schema, formats included. Prints one line per
invalid event and exits 1 if any; prints the count checked otherwise."""
import json
import sys

from jsonschema import Draft202012Validator


def main() -> int:
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    source = open(sys.argv[2], "rb") if len(sys.argv) > 2 else sys.stdin.buffer
    checked = bad = 0
    for number, raw in enumerate(source, 1):
        checked += 1
        try:
            event = json.loads(raw)
        except ValueError as error:
            bad += 1
            print(f"line {number}: not JSON: {error}: {raw[:200]!r}")
            continue
        for error in validator.iter_errors(event):
            bad += 1
            print(f"line {number}: {error.json_path}: {error.message}")
    if bad:
        return 1
    print(f"{checked} lines valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
