"""Compare Python BGEN readers for hlmm's BGEN genotype source.

Reads counted-allele (second allele) dosages, float64 C-order samples × variants,
for all samples, in blocks of 1000 variants, from an 8-bit zlib BGEN v1.2 (layout 2)
of N samples × M variants, with:

- ``bgen``        (jeremymcrae/bgen: Cython/C++, ``BgenVar.alt_dosage``),
- ``cbgen``       (limix/cbgen: cffi over the C bgen library, probabilities → dosage),
- ``bgen-reader`` (limix/bgen-reader: ``open_bgen.read`` over cbgen, probabilities → dosage);

and hlmm's own :class:`hlmm.io.bgen.BgenSource` (built on the chosen library) when
importable. For each it prints the index-building time (what must happen before the
first random-access read) and ns per genotype, single-threaded and with 2 threads
reading different blocks.

The BGEN is made with ``plink2 --dummy`` when plink2 is on PATH, else with
``bgen.BgenWriter``. Usage::

    python bench/bench_bgen_readers.py [--n 100000] [--m 2000] [--dir /tmp/hlmm_bgen_bench]

Measured 2026-11 (2-CPU VM shared with other jobs, so ±50 %; plink2 --dummy file, 175
MiB, bgen 1.10.3, cbgen 1.0.6, bgen-reader 4.0.9), ns per genotype, 1 thread / 2 threads:

    bgen (jeremymcrae)   6.4–13   /  5.8–15  (2 threads: one reader each, GIL-bound)
    cbgen               50–69     / 66–121
    bgen-reader         69–86     / 55–81   (its own 2 threads: 64–104)
    hlmm BgenSource      7.6–10   /  6.7–16  (bgen + lock + grid snap + float64 C-order)

Index building (before the first read): bgen 0.04 s, cbgen metafile 0.05 s, bgen-reader
metadata file 1.2 s, BgenSource 0.05 s (~5 µs per variant on 200,000 variants).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

BLOCK = 1000


def make_bgen(prefix, n, m, seed=1):
    path = prefix + ".bgen"
    if os.path.exists(path):
        return path, "existing file"
    plink2 = shutil.which("plink2")
    if plink2:
        subprocess.run([plink2, "--dummy", str(n), str(m), "0.005", "dosage-freq=0.4",
                        "--export", "bgen-1.2", "bits=8", "--seed", str(seed),
                        "--out", prefix], check=True, capture_output=True)
        for ext in (".log",):
            if os.path.exists(prefix + ext):
                os.remove(prefix + ext)
        return path, "plink2 --dummy"
    from bgen import BgenWriter

    rng = np.random.default_rng(seed)
    with BgenWriter(path, n_samples=n, samples=[f"per{i}" for i in range(n)],
                    compression="zlib", layout=2) as w:
        for j in range(m):
            f = rng.uniform(0.05, 0.95)
            g = rng.binomial(2, f, n)
            probs = np.zeros((n, 3))
            probs[np.arange(n), g] = 1.0
            soft = rng.random(n) < 0.4  # 40% of genotypes uncertain, as dosage-freq=0.4
            probs[soft] = rng.dirichlet([1, 1, 1], soft.sum())
            probs[rng.random(n) < 0.005] = np.nan  # missing
            w.add_variant(varid=f"snp{j}", rsid=f"snp{j}", chrom="1", pos=j + 1,
                          alleles=["A", "B"], genotypes=probs, bit_depth=8)
    return path, "bgen.BgenWriter"


# ---------------------------------------------------------------- library adapters
class JeremyBgen:
    name = "bgen (jeremymcrae)"

    def __init__(self, path):
        from bgen import BgenReader

        self.path = path
        self.r = BgenReader(path, delay_parsing=True)
        len(self.r)
        self.r[0]  # parses every variant header: the in-memory index
        self.n = self.r.header.nsamples

    def reopen(self):
        return JeremyBgen(self.path)

    def read(self, start, stop):
        buf = np.empty((stop - start, self.n), dtype=np.float32)
        for k, j in enumerate(range(start, stop)):
            buf[k] = self.r[j].alt_dosage
        return np.ascontiguousarray(buf.T, dtype=np.float64)


class CBgen:
    name = "cbgen"

    def __init__(self, path, tmpdir):
        import cbgen

        self.path, self.tmpdir = path, tmpdir
        self.f = cbgen.bgen_file(path)
        meta = os.path.join(tmpdir, os.path.basename(path) + ".metafile")
        if os.path.exists(meta):
            os.remove(meta)
        self.f.create_metafile(meta)
        offs = []
        with cbgen.bgen_metafile(meta) as mf:
            for p in range(mf.npartitions):
                offs.append(mf.read_partition(p).variants.offset)
        self.offsets = np.concatenate(offs)
        self.n = self.f.nsamples

    def reopen(self):
        import cbgen

        other = object.__new__(CBgen)
        other.path, other.tmpdir, other.offsets, other.n = (self.path, self.tmpdir,
                                                            self.offsets, self.n)
        other.f = cbgen.bgen_file(self.path)
        return other

    def read(self, start, stop):
        out = np.empty((stop - start, self.n))
        for k, j in enumerate(range(start, stop)):
            p = self.f.read_probability(int(self.offsets[j]))
            np.multiply(p[:, 2], 2.0, out=out[k])
            out[k] += p[:, 1]
        return np.ascontiguousarray(out.T)


class BgenReaderLib:
    name = "bgen-reader"

    def __init__(self, path, tmpdir):
        from bgen_reader import open_bgen

        self.path = path
        self.meta = os.path.join(tmpdir, os.path.basename(path) + ".metadata2.mmm")
        if os.path.exists(self.meta):
            os.remove(self.meta)
        self.ob = open_bgen(path, metadata_filepath=self.meta, verbose=False)
        self.n = self.ob.nsamples

    def reopen(self):
        from bgen_reader import open_bgen

        other = object.__new__(BgenReaderLib)
        other.path, other.meta, other.n = self.path, self.meta, self.n
        other.ob = open_bgen(self.path, metadata_filepath=self.meta, verbose=False)
        return other

    def read(self, start, stop, num_threads=1):
        p = self.ob.read(np.s_[:, start:stop], dtype=np.float64, order="C",
                         num_threads=num_threads)
        return p[:, :, 1] + 2.0 * p[:, :, 2]


class HlmmSource:
    name = "hlmm BgenSource"

    def __init__(self, path):
        from hlmm.io.bgen import BgenSource

        self.src = BgenSource(path, "bench")
        self.n = self.src.n_samples
        self.all = np.arange(self.n)

    def reopen(self):
        return self  # BgenSource is thread-safe by itself

    def read(self, start, stop):
        return self.src.read_dosages(start, stop, self.all)


# ---------------------------------------------------------------- timing
def time_serial(reader, m, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for start in range(0, m, BLOCK):
            reader.read(start, min(m, start + BLOCK))
        best = min(best, time.perf_counter() - t0)
    return best


def time_threads(reader, m, threads, repeat):
    readers = [reader.reopen() for _ in range(threads)]
    blocks = list(range(0, m, BLOCK))
    best = np.inf
    for _ in range(repeat):
        def work(t):
            for start in blocks[t::threads]:
                readers[t].read(start, min(m, start + BLOCK))

        ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--m", type=int, default=2000)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "hlmm_bgen_bench"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="",
                    help="comma-separated subset: bgen,cbgen,bgen-reader,hlmm")
    args = ap.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    prefix = os.path.join(args.dir, f"dummy_{args.n}_{args.m}")
    t0 = time.perf_counter()
    path, how = make_bgen(prefix, args.n, args.m)
    print(f"# {path}: {args.n} samples x {args.m} variants, 8-bit zlib BGEN v1.2 "
          f"({how}, {time.perf_counter() - t0:.1f} s, {os.path.getsize(path) / 2**20:.0f} MiB)")
    print(f"# blocks of {BLOCK} variants, all samples, float64 C-order; best of {args.repeat}; "
          f"{os.cpu_count()} CPUs")
    tmpdir = tempfile.mkdtemp(prefix="hlmm_bgen_idx_")
    makers = {
        "bgen": lambda: JeremyBgen(path),
        "cbgen": lambda: CBgen(path, tmpdir),
        "bgen-reader": lambda: BgenReaderLib(path, tmpdir),
        "hlmm": lambda: HlmmSource(path),
    }
    only = [s for s in args.only.split(",") if s] or list(makers)
    genos = args.n * args.m
    ref = None
    print(f"{'library':<22}{'index s':>9}{'ns/geno 1 thr':>15}{'ns/geno 2 thr':>15}  check")
    for key in only:
        try:
            t0 = time.perf_counter()
            reader = makers[key]()
            t_index = time.perf_counter() - t0
        except ImportError as exc:
            print(f"{key:<22} not available ({exc})")
            continue
        block = reader.read(0, min(args.m, BLOCK))
        if ref is None:
            ref = block
            check = "reference"
        else:
            same = np.allclose(block, ref, atol=2e-6, equal_nan=True)
            check = "same dosages" if same else "DIFFERENT dosages"
        t1 = time_serial(reader, args.m, args.repeat)
        t2 = time_threads(reader, args.m, 2, args.repeat)
        print(f"{reader.name:<22}{t_index:9.3f}{t1 / genos * 1e9:15.2f}{t2 / genos * 1e9:15.2f}"
              f"  {check}")
        sys.stdout.flush()
        if key == "bgen-reader":
            t3 = np.inf
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                for start in range(0, args.m, BLOCK):
                    reader.read(start, min(args.m, start + BLOCK), num_threads=2)
                t3 = min(t3, time.perf_counter() - t0)
            print(f"{'  (its own 2 threads)':<22}{'':9}{'':15}{t3 / genos * 1e9:15.2f}")
    shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
