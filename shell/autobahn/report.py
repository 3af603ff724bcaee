#!/usr/bin/env python3
"""Reads the Autobahn|Testsuite's index.json and judges it (shell/autobahn/run.sh).

Every case must end OK, NON-STRICT or INFORMATIONAL, in its behavior and in its
behaviorClose. Prints the failing cases, then one tally line; exits 1 on any failure.

usage: report.py INDEX_JSON
"""

import json
import os
import sys

# The outcomes a case may have, mildest first; a case counts as the worse of its two.
ALLOWED = ["OK", "INFORMATIONAL", "NON-STRICT"]
# Cases allowed to be UNIMPLEMENTED, each with the reason. None: the suite's
# UNIMPLEMENTED cases are permessage-deflate (sections 12 and 13), which run.sh does
# not run because the server does not negotiate the extension.
UNIMPLEMENTED_ALLOWED = {}


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def judge(case_id, result):
    """The case's outcome: the worse of its two if both are allowed, else FAILED."""
    rank = ALLOWED + ["UNIMPLEMENTED"]
    worst = "OK"
    for outcome in (result.get("behavior"), result.get("behaviorClose")):
        if outcome not in ALLOWED and not (outcome == "UNIMPLEMENTED" and case_id in UNIMPLEMENTED_ALLOWED):
            return "FAILED"
        if rank.index(outcome) > rank.index(worst):
            worst = outcome
    return worst


def describe(report_dir, result):
    """What the case's own report says went wrong (its result text and close codes)."""
    path = os.path.join(report_dir, result.get("reportfile", ""))
    try:
        with open(path) as f:
            detail = json.load(f)
    except (OSError, ValueError):
        return ""
    return "{} (result close: {})".format(detail.get("result", ""), detail.get("resultClose", ""))


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    index_path = sys.argv[1]
    with open(index_path) as f:
        index = json.load(f)
    if len(index) != 1:
        print("autobahn: error: expected one agent in {}, found {}".format(index_path, list(index)), file=sys.stderr)
        return 1
    (agent, cases), = index.items()
    if not cases:
        print("autobahn: error: no case ran", file=sys.stderr)
        return 1
    tally = {name: 0 for name in ALLOWED + ["UNIMPLEMENTED", "FAILED"]}
    report_dir = os.path.dirname(index_path)
    for case_id in sorted(cases, key=case_key):
        result = cases[case_id]
        outcome = judge(case_id, result)
        tally[outcome] += 1
        if outcome == "FAILED":
            print(
                "autobahn: case {} FAILED: behavior {}, behaviorClose {}: {}".format(
                    case_id, result.get("behavior"), result.get("behaviorClose"), describe(report_dir, result)
                ),
                file=sys.stderr,
            )
    parts = ["{} OK".format(tally["OK"]), "{} NON-STRICT".format(tally["NON-STRICT"])]
    parts.append("{} INFORMATIONAL".format(tally["INFORMATIONAL"]))
    if tally["UNIMPLEMENTED"]:
        parts.append("{} UNIMPLEMENTED".format(tally["UNIMPLEMENTED"]))
    parts.append("{} FAILED".format(tally["FAILED"]))
    print("autobahn: {} cases ({}): {}".format(len(cases), agent, ", ".join(parts)))
    return 1 if tally["FAILED"] else 0


if __name__ == "__main__":
    sys.exit(main())
