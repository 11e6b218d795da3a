"""The scan's output path, former Python code against the current one, in one run
(issue #14, benchmark W6: 100 phenotypes × 20,000 SNPs).

    PYTHONPATH=. python bench/bench_output_path.py [--rows 20000] [--tables 100] [--threads 2]

Times, as CPU seconds of this process (all its threads; wall seconds beside them for the
parallel table writing):
1. the table rows of ``--rows`` SNPs formatted in blocks of 128: the former
   ``models_block_arrays`` (kept in tests/output_reference.py) against
   :func:`hlmm.io.output.models_block_lines` (:func:`row_labels` apart: a scan makes them
   once a block for all its phenotypes);
2. ``Partial.append`` of those rows: the former per-row ``status<TAB>row`` join and
   write against writing the formatted bytes;
3. the final tables of ``--tables`` phenotypes from their partial files: the former
   GzipFile + TextIOWrapper line by line, one table after another, against
   ``scan_run._write_tables`` (bulk bytes, ``--threads`` threads).
The results are checked equal (rows, table bytes) before timing is reported.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from output_reference import models_block_text, partial_block, write_table  # noqa: E402

from hlmm.scan.block_fits import STATUS_NAMES  # noqa: E402
from hlmm.io.output import AtomicOutputs, models_block_lines, models_columns, row_labels  # noqa: E402
from hlmm.scan.run import _Output, _write_tables  # noqa: E402


def cpu(fn):
    """(CPU seconds of this process, wall seconds, result) of ``fn()``."""
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c, time.perf_counter() - w, out


def simulated(rows, rng):
    """Arrays of a scan's results, with the magnitudes of a real one."""
    est = np.column_stack([-141000 - rng.random(rows) * 1000, rng.standard_normal(rows) * 0.01,
                           0.004 + rng.random(rows) * 1e-3, rng.standard_normal(rows) * 0.01,
                           0.009 + rng.random(rows) * 1e-3, np.zeros(rows)])
    code = np.zeros(rows, np.int8)
    code[rng.random(rows) < 0.001] = 2
    est[code == 2] = np.nan
    est[code == 2, 5] = 0.0
    return dict(snps=np.array([f"rs{i}" for i in range(rows)]), ns=np.full(rows, 100000),
                freq=rng.integers(5000, 100000, rows) / 200000.0, est=est, code=code,
                chrom=np.full(rows, "1"), pos=np.arange(1, rows + 1, dtype=np.int64),
                a1=np.array(list("ACGT"))[rng.integers(0, 4, rows)],
                a2=np.array(list("ACGT"))[rng.integers(0, 4, rows)])


def format_old(d, blocks):
    out = []
    for b in blocks:
        text = models_block_text(d["snps"][b], d["ns"][b], d["freq"][b], d["est"][b],
                                 d["chrom"][b], d["pos"][b], d["a1"][b], d["a2"][b],
                                 code=d["code"][b])
        out.append((["ok" if c == 0 else STATUS_NAMES[c].decode() for c in d["code"][b]],
                    text))
    return out


def labels_of(d, blocks):
    return [row_labels(d["snps"][b], d["chrom"][b], d["pos"][b], d["a1"][b], d["a2"][b])
            for b in blocks]


def format_new(d, blocks, labels):
    return [models_block_lines(d["code"][b], STATUS_NAMES, {}, lab, d["ns"][b],
                               d["freq"][b], d["est"][b]) for b, lab in zip(blocks, labels)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--tables", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    d = simulated(args.rows, np.random.default_rng(1))
    blocks = [np.arange(s, min(s + 128, args.rows)) for s in range(0, args.rows, 128)]

    t_old, _, old = cpu(lambda: format_old(d, blocks))
    t_lab, _, labels = cpu(lambda: labels_of(d, blocks))
    t_new, _, new = cpu(lambda: format_new(d, blocks, labels))
    assert b"".join(partial_block(s, t) for s, t in old) == b"".join(new)
    print(f"1. format {args.rows} rows: former {t_old:.3f} s CPU, now {t_new:.3f} s "
          f"({t_old / t_new:.1f}× less), plus {t_lab:.3f} s for their labels (SNP, "
          "position, alleles: once for all phenotypes)")

    with tempfile.TemporaryDirectory(prefix="bench_output_") as tmp:
        def append_old():
            with open(os.path.join(tmp, "old.partial"), "wb") as fh:
                for s, t in old:
                    fh.write(partial_block(s, t))
                    fh.flush()

        def append_new():
            with open(os.path.join(tmp, "new.partial"), "wb") as fh:
                for lines in new:
                    fh.write(lines)
                    fh.flush()

        a_old, _, _ = cpu(append_old)
        a_new, _, _ = cpu(append_new)
        print(f"2. Partial.append of {args.rows} rows: former {a_old:.3f} s CPU, now "
              f"{a_new:.4f} s ({a_old / max(a_new, 1e-9):.0f}× less)")

        partial = os.path.join(tmp, "new.partial")
        header = "\t".join(models_columns()) + "\n"

        def tables_old():
            for i in range(args.tables):
                write_table(partial, os.path.join(tmp, f"old{i}.gz"), header, False)

        class _Part:
            path = partial

        outs = [_Output(os.path.join(tmp, f"new{i}"), None) for i in range(args.tables)]
        for o in outs:
            o.partial = _Part()

        def tables_new():
            with AtomicOutputs() as out:
                _write_tables(outs, out, models_columns(), args.threads)
                out.commit()

        w_old, ww_old, _ = cpu(tables_old)
        w_new, ww_new, _ = cpu(tables_new)
        with open(os.path.join(tmp, "old0.gz"), "rb") as a, \
                open(outs[-1].models_path, "rb") as b:
            assert a.read() == b.read()
        print(f"3. write {args.tables} tables of {args.rows} rows: former {w_old:.2f} s CPU "
              f"({ww_old:.2f} s wall, one thread), now {w_new:.2f} s CPU ({ww_new:.2f} s "
              f"wall, {args.threads} threads): {w_old / w_new:.1f}× less CPU, "
              f"{ww_old / ww_new:.1f}× less wall")


if __name__ == "__main__":
    main()
