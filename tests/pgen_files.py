"""Small .pgen/.pvar/.psam files written with pgenlib, for tests/io/test_io_pgen.py and
the scans that read them."""
import numpy as np
import pgenlib

RES = 16384.0


# ---------------------------------------------------------------------------- writers
def write_pvar(path, rows, meta=True):
    """rows: (chrom, pos, id, ref, alt)."""
    with open(path, "w") as fh:
        if meta:
            fh.write("##fileformat=VCFv4.3\n##source=test\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, p, i, r, a in rows:
            fh.write(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t.\t.\n")


def write_psam(path, fid, iid, style="fid"):
    with open(path, "w") as fh:
        if style == "fid":
            fh.write("#FID\tIID\tSEX\tPHENO1\n")
            for f, i in zip(fid, iid):
                fh.write(f"{f}\t{i}\tNA\t1.5\n")
        elif style == "iid":
            fh.write("#IID\tSEX\n")
            for i in iid:
                fh.write(f"{i}\t1\n")
        else:  # .fam-style, no header
            for f, i in zip(fid, iid):
                fh.write(f"{f} {i} 0 0 1 -9\n")


def default_rows(m, ids=None, alts=None):
    return [("1", 1000 + 10 * j, ids[j] if ids else f"rs{j}", "A",
             alts[j] if alts else "G") for j in range(m)]


def write_hardcall_pgen(prefix, G, rows=None, psam="fid", fid=None, iid=None):
    """G: m × n int8 ALT counts, -9 missing."""
    m, n = G.shape
    with pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n, variant_ct=m,
                            nonref_flags=False) as w:
        for j in range(m):
            w.append_biallelic(np.ascontiguousarray(G[j], dtype=np.int8))
    write_pvar(f"{prefix}.pvar", rows or default_rows(m))
    fid = fid if fid is not None else [f"F{i // 2}" for i in range(n)]
    iid = iid if iid is not None else [f"I{i}" for i in range(n)]
    write_psam(f"{prefix}.psam", fid, iid, psam)
    return f"{prefix}.pgen"


def write_dosage_pgen(prefix, D, hard_rows=(), rows=None):
    """D: m × n dosages on the 1/16384 grid, -9 missing; variants in ``hard_rows`` are
    written as hard calls (``append_biallelic``)."""
    m, n = D.shape
    with pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n, variant_ct=m,
                            nonref_flags=False, dosage_present=True) as w:
        for j in range(m):
            if j in hard_rows:
                w.append_biallelic(np.ascontiguousarray(D[j], dtype=np.int8))
            else:
                w.append_dosages(np.ascontiguousarray(D[j], dtype=np.float64))
    write_pvar(f"{prefix}.pvar", rows or default_rows(m))
    write_psam(f"{prefix}.psam", [f"F{i}" for i in range(n)], [f"I{i}" for i in range(n)])
    return f"{prefix}.pgen"


def random_hardcalls(m, n, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.integers(0, 3, size=(m, n)).astype(np.int8)
    G[rng.random((m, n)) < 0.1] = -9
    return G


def as_dosage(G):
    X = G.T.astype(np.float64)
    X[X < 0] = np.nan
    return X
