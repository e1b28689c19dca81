"""bin/mutation's report: per module, the mutants mutmut made, how many the tests killed, the
survivors (with their diffs) and the reviewed equivalents (bench/mutation_equivalents.toml).

    .venv/bin/python bench/mutation_report.py [--min-score 95] [module.py ...]
    .venv/bin/python bench/mutation_report.py --names [module.py ...]   # mutmut's patterns

Score = killed / (mutants - equivalent). A timeout counts as killed (the mutant made a test
hang or spin: noticed). A mutant no selected test reaches ("no tests") counts as survived.
Exits 1 when a module is under --min-score, 0 otherwise. Reads mutants/<path>.meta, which
`mutmut run` writes; run from the project root.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "bench" / "mutation_equivalents.toml"
MODULES = [
    "apikeys/keyformat.py",
    "apikeys/permissions.py",
    "a2v2/lib/client_ip.py",
    "apikeys/ratelimit.py",
    "apikeys/verification.py",
    "apikeys/records.py",
    "apikeys/webhooks.py",
    "apikeys/usage.py",
]
# Modules of which only some functions are on the security path: the webhook signature a
# receiver checks. The rest of webhooks.py (emitting, delivery, retries, the sweep) is not
# mutated, and mutmut runs only these functions' mutants.
ONLY_FUNCTIONS = {
    "apikeys/webhooks.py": ("sign", "signature_is_valid", "request_for"),
}
KILLED, TIMEOUT, SURVIVED, NO_TESTS = {1, 3}, {24, -24, 36, 152, 255}, {0}, {5, 33}


@dataclass(frozen=True)
class Equivalent:
    module: str
    function: str
    removed: str
    added: str
    reason: str


@dataclass
class Tally:
    module: str
    killed: int = 0
    timeout: int = 0
    other: list[tuple[str, int]] = field(default_factory=list)  # not run or crashed
    equivalent: list[tuple[str, Equivalent]] = field(default_factory=list)
    survived: list[tuple[str, str]] = field(default_factory=list)  # name, diff

    @property
    def total(self) -> int:
        return (
            self.killed + self.timeout + len(self.other) + len(self.equivalent) + len(self.survived)
        )

    @property
    def score(self) -> float:
        judged = self.total - len(self.equivalent)
        return 100.0 * (self.killed + self.timeout) / judged if judged else 100.0


def function_of(mutant: str) -> str:
    """`apikeys.ratelimit.xǁWindowǁbucket__mutmut_3` -> `Window.bucket`."""
    name = mutant.rsplit(".", 1)[-1]
    name = re.sub(r"__mutmut_\d+$", "", name)
    name = name.removeprefix("x_").removeprefix("x")
    return ".".join(part for part in name.split("ǁ") if part)


def mutant_patterns(module: str) -> list[str]:
    """What `mutmut run` is given for this module: all its mutants, or those of
    ONLY_FUNCTIONS (mutmut names a function's mutants `pkg.mod.x_name__mutmut_N`)."""
    if not (ROOT / module).is_file():
        raise SystemExit(f"error: no such module: {module}")
    dotted = module.removesuffix(".py").replace("/", ".")
    if module not in ONLY_FUNCTIONS:
        return [f"{dotted}.*"]
    return [f"{dotted}.x_{name}__mutmut_*" for name in ONLY_FUNCTIONS[module]]


def judged(module: str, mutant: str) -> bool:
    return module not in ONLY_FUNCTIONS or function_of(mutant) in ONLY_FUNCTIONS[module]


def changed_lines(diff: str) -> tuple[str, str]:
    lines = diff.splitlines()
    body = [line for line in lines if not line.startswith(("---", "+++", "@@"))]
    removed = "\n".join(line[1:].strip() for line in body if line.startswith("-"))
    added = "\n".join(line[1:].strip() for line in body if line.startswith("+"))
    return removed, added


def load_equivalents() -> list[Equivalent]:
    data = tomllib.loads(EQUIVALENTS.read_text())
    return [Equivalent(**entry) for entry in data.get("equivalent", [])]


def tally(module: str, equivalents: list[Equivalent]) -> Tally:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    meta = Path("mutants") / f"{module}.meta"
    if not meta.exists():
        raise SystemExit(f"{meta} is missing: run `bin/mutation` (mutmut run) first")
    result = Tally(module)
    for name, code in sorted(json.loads(meta.read_text())["exit_code_by_key"].items()):
        if not judged(module, name):
            continue
        if code in KILLED:
            result.killed += 1
        elif code in TIMEOUT:
            result.timeout += 1
        elif code in SURVIVED or code in NO_TESTS:
            diff = get_diff_for_mutant(name, path=module)
            removed, added = changed_lines(diff)
            match = next(
                (
                    e
                    for e in equivalents
                    if e.module == module
                    and e.function == function_of(name)
                    and (e.removed.strip(), e.added.strip()) == (removed, added)
                ),
                None,
            )
            if match is not None:
                result.equivalent.append((name, match))
            else:
                note = "" if code in SURVIVED else "  (no selected test reaches it)"
                result.survived.append((name, diff + note))
        else:
            result.other.append((name, code))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=MODULES)
    parser.add_argument("--min-score", type=float, default=95.0)
    parser.add_argument("--names", action="store_true", help="print mutmut's patterns, one a line")
    args = parser.parse_args()
    if args.names:
        print("\n".join(p for module in args.modules for p in mutant_patterns(module)))
        return 0
    equivalents = load_equivalents()
    tallies = [tally(module, equivalents) for module in args.modules]

    for t in tallies:
        for name, diff in t.survived:
            print(f"\n# survived: {name}\n{diff}")
        for name, code in t.other:
            print(f"\n# not judged (exit code {code}): {name}")
    for t in tallies:
        for name, e in t.equivalent:
            print(f"# equivalent: {name}: {e.reason}")
    used = {e for t in tallies for _, e in t.equivalent}
    for e in equivalents:
        if e.module in args.modules and e not in used:
            print(f"\n# stale equivalent (matches no mutant now): {e.module} {e.function}")

    print(f"\n{'module':<26} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8}"
          f" {'equivalent':>10} {'other':>5} {'score':>7}")  # fmt: skip
    failing = []
    for t in tallies:
        print(f"{t.module:<26} {t.total:>7} {t.killed:>6} {t.timeout:>7} {len(t.survived):>8}"
              f" {len(t.equivalent):>10} {len(t.other):>5} {t.score:>6.1f}%")  # fmt: skip
        if t.score < args.min_score:
            failing.append(t.module)
    print("\nscore = (killed + timeout) / (mutants - equivalent); equivalents and their reasons:")
    print(f"{EQUIVALENTS.relative_to(ROOT)}")
    if failing:
        print(f"under {args.min_score:g}%: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
