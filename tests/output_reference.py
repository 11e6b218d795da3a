"""The table's former Python formatting, kept as the oracle of the C formatting
(:func:`hlmm.io.output.models_block_lines`) and of the table writer (tests and
bench/bench_output_path.py)."""
import gzip
import io

import numpy as np

from hlmm.io.output import stat_cells


def _sig6(values):
    return ["NA" if v != v else "%.6g" % v for v in values]


_CODES = ("ok", "filtered_missing", "filtered_maf", "failed", "unusable")


def models_block_text(snps, ns, freqs, est, chrom, pos, a1, a2, bf=None, code=None):
    """The rows of a block of ``OUTPREFIX.models.gz``, as the Python code writes them:
    ``freqs`` the counted allele's, ``code`` the rows' status codes (default: all ok)."""
    k = est.shape[0]
    code = np.zeros(k, int) if code is None else np.asarray(code)
    block = stat_cells(est)       # (the statistics: only their formatting is the oracle's)
    cells = ["\t".join(_sig6(r)) for r in block.tolist()]
    like = ["NA" if v != v else repr(v) for v in est[:, 0].tolist()]
    f = np.asarray(freqs, float)
    fq = _sig6([np.nan if c == 1 else min(v, 1.0 - v) for v, c in zip(f.tolist(), code)])
    a1f = _sig6(f.tolist())
    nn = [str(int(v)) for v in np.asarray(ns).tolist()]
    extra = [""] * k
    if bf is not None:
        extra = ["\t" + "\t".join(_sig6(r)) for r in np.asarray(bf, float).tolist()]
    lines = []
    for j in range(k):
        lines.append("\t".join((snps[j], nn[j], fq[j], like[j], cells[j], str(chrom[j]),
                                str(pos[j]), str(a1[j]), str(a2[j]))) + extra[j]
                     + f"\t{a1f[j]}\t{_CODES[code[j]]}")
    return "\n".join(lines) + "\n" if lines else ""


def partial_block(statuses, rows_text):
    """A block's partial-file lines, as Partial.append wrote them."""
    rows = rows_text.splitlines()
    return "".join(f"{s}\t{r}\n" for s, r in zip(statuses, rows)).encode()


def write_table(partial_path, final, header, append):
    """A partial file's table as the former writer wrote it: ``(counts, unusable,
    failures)``; gzip level 1 through GzipFile and TextIOWrapper, line by line."""
    counts = {"ok": 0, "filtered_missing": 0, "filtered_maf": 0, "failed": 0}
    unusable, failures = {}, []
    with open(final, "ab" if append else "wb") as raw, open(partial_path) as rows:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0)
        with io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:
            if header is not None:
                fh.write(header)
            for line in rows:
                status, row = line.split("\t", 1)
                fh.write(row)
                if status.startswith("unusable"):
                    reason = status[9:]
                    unusable[reason] = unusable.get(reason, 0) + 1
                    continue
                key = "failed" if status.startswith("failed") else status
                counts[key] += 1
                if key == "failed":
                    failures.append(f"{row.split(chr(9), 1)[0]}: {status[7:]}")
    return counts, unusable, failures
