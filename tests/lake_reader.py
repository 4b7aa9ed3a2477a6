"""An independent reader of the published Delta tables (tests/integration.sh).

    python tests/lake_reader.py FIDELIS_BIN CONFIG OUTPUT_ROOT

The `deltalake` package (delta-rs' Python binding, not fidelis' code) reads
the `runs` table, then every table of every run date at the version that
date's current row names, filtered to the date (docs/publishing.md, "The
reader rule"), and `fidelis sql` must return the same rows: the same count,
the same customer ids and the same sum of every float column. Exit 1 on the
first difference.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "notebooks"))
from fidelis_outputs import current_runs  # noqa: E402


def sql(binary: str, config: str, query: str) -> list[dict]:
    out = subprocess.run(
        [binary, "sql", "--config", config, "--format", "json", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def main() -> int:
    binary, config, root = sys.argv[1:4]
    checked = 0
    for record in current_runs(root):
        d = record["run_date"]
        for table, committed in sorted(record["tables"].items()):
            dt = DeltaTable(os.path.join(root, table), version=committed["version"])
            protocol = dt.protocol()
            if protocol.reader_features or protocol.min_reader_version > 1:
                print(f"{table}: reader protocol {protocol}: readers need more than the default", file=sys.stderr)
                return 1
            theirs = dt.to_pyarrow_dataset().to_table(filter=pc.field("run_date") == d)
            ours = sql(binary, config, f"select * from {table} where run_date = '{d}'")
            what = f"{table} of {d} (version {committed['version']})"
            if theirs.num_rows != len(ours):
                print(f"{what}: deltalake reads {theirs.num_rows} rows, fidelis sql {len(ours)}", file=sys.stderr)
                return 1
            if "customer_id" in theirs.column_names:
                a = sorted(x for x in theirs.column("customer_id").to_pylist() if x is not None)
                b = sorted(r["customer_id"] for r in ours if r.get("customer_id") is not None)
                if a != b:
                    print(f"{what}: the customer ids differ", file=sys.stderr)
                    return 1
            for field in theirs.schema:
                if not pa.types.is_floating(field.type):
                    continue
                a = sum(x for x in theirs.column(field.name).to_pylist() if x is not None and math.isfinite(x))
                b = sum(
                    r[field.name]
                    for r in ours
                    if isinstance(r.get(field.name), (int, float)) and math.isfinite(r[field.name])
                )
                if not close(a, b):
                    print(f"{what}: sum of {field.name}: deltalake {a}, fidelis sql {b}", file=sys.stderr)
                    return 1
            checked += 1
    if checked == 0:
        print("no published table to check", file=sys.stderr)
        return 1
    print(f"lake_reader: {checked} tables x dates read alike by deltalake and fidelis sql")
    return 0


if __name__ == "__main__":
    sys.exit(main())
