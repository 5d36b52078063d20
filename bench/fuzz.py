"""Fuzzing benchmark: the fuzz tests of tests/test_fuzz.py with many more, fresh random examples.

Every body goes through the real Lambda handler against moto. Prints, per test, how many
examples ran and what the answers were; fails (exit 1) on the first 5xx, lost valid event
or unencodable stored string, printing the minimal failing body.

Usage: python bench/fuzz.py [--examples 5000] [--seeded]
  --seeded  the same derandomized inputs as CI instead of fresh random ones
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="examples per fuzz test (CI runs 300)")
    parser.add_argument("--seeded", action="store_true", help="CI's derandomized inputs instead of fresh ones")
    args = parser.parse_args()
    env = dict(os.environ, LIVEINSIGHT_FUZZ_EXAMPLES=str(args.examples))
    if not args.seeded:
        env["LIVEINSIGHT_FUZZ_RANDOM"] = "1"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:warnings", "-p", "no:cacheprovider",
         "--hypothesis-show-statistics", "tests/test_fuzz.py"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    test, phase = None, None
    for line in result.stdout.splitlines():
        if line.startswith("tests/test_fuzz.py::"):
            test = line.split("::")[1].rstrip(":")
        elif "during " in line and " phase" in line:
            phase = line.split("during ")[1].split(" phase")[0]
        elif test and re.search(r"\d+ passing, \d+ failing", line):
            print(f"{test} ({phase}): {line.strip().lstrip('- ')}")
        elif test and phase == "generate" and line.strip().startswith("* ") and "->" in line:
            print(f"    {line.strip()[2:]}")
    print(f"{args.examples} examples per test requested; {elapsed:.0f} s; pytest exit {result.returncode}")
    if result.returncode:
        print(result.stdout[-6000:])
        print(result.stderr[-2000:], file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
