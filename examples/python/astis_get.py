#!/usr/bin/env python3
"""astis_get (Python example): fetch secrets through the ASTIS pod SDK.

    ASTIS_EDGE_URL=https://edge.example:8443 ASTIS_API_KEY=astis_... \\
      python3 astis_get.py db-password api-token

Configuration comes from the ASTIS_* environment. All names are fetched in one
batch. Prints each secret's size, never its value; wipes each copy."""

import sys

import astis


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: astis_get.py NAME...", file=sys.stderr if len(argv) < 2 else sys.stdout)
        return 2 if len(argv) < 2 else 0
    astis.harden_process()
    try:
        with astis.Client() as client:
            values = client.get_many(argv[1:])
    except astis.AstisError as e:
        print(f"astis: {e.name}: {e.message}", file=sys.stderr)
        return 1
    for name, value in zip(argv[1:], values):
        print(f"{name}: {len(value)} bytes")
        astis.wipe(value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
