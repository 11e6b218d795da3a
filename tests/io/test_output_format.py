"""The table's C formatting and writer against the former Python code (the oracle in
tests/output_reference.py), byte for byte."""
import numpy as np
import pytest

from hlmm.scan.block_fits import STATUS_NAMES, BlockFits, SnpFit
from hlmm.io.output import models_block_lines, row_labels
from output_reference import models_block_text, partial_block


def _awkward(rng, m):
    """Doubles of every kind: random magnitudes, integers, ties, subnormals, specials."""
    with np.errstate(over="ignore"):
        v = rng.standard_normal(m) * 10.0 ** rng.integers(-330, 309, m)
    k = m // 6
    v[:k] = np.round(rng.standard_normal(k) * 10.0 ** rng.integers(0, 18, k))   # 1e5 → '100000.0'
    v[k:2 * k] = rng.integers(1, 10 ** 6, k) * 10.0 ** rng.integers(-12, 3, k)  # '1e-05', '0.28033'
    v[2 * k:3 * k] = -rng.uniform(1e5, 2e5, k)                                  # likelihood-like
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 1e15, 1e-5, 1e-4, 0.28033,
               -141891.7385591982, 100000.0, 5e-324, 2.2250738585072014e-308,
               1.7976931348623157e308, 0.1, 0.5, 2.0 ** 60, 2.0 ** -30, 9007199254740993.0,
               123456.5, 999999.5, 1e22, 1e23, -1e-310]
    special = special[:m - 3 * k]
    v[3 * k:3 * k + len(special)] = special
    return v


def _block(rng, m, bf):
    est = _awkward(rng, 6 * m).reshape(m, 6)
    est[rng.random(m) < 0.1] = np.nan
    est[::7, 5] = 0.0
    freq = _awkward(rng, m)
    ns = rng.integers(0, 10 ** 7, m)
    ns[0] = 0
    bfs = _awkward(rng, 2 * m).reshape(m, 2) if bf else None
    snps = np.array(["snp_é"] + [f"rs{i}" for i in range(1, m)])   # written as UTF-8
    chrom = np.array(["X"] + [str(1 + i % 23) for i in range(1, m)])
    pos = rng.integers(1, 10 ** 9, m)
    a1 = np.array(["A", "C", "G", "T", "AT"])[rng.integers(0, 5, m)]
    a2 = np.array(["A", "C", "G", "T", "<DEL>"])[rng.integers(0, 5, m)]
    return snps, ns, freq, est, chrom, pos, a1, a2, bfs


@pytest.mark.parametrize("bf", [False, True])
def test_block_lines_equal_python_formatting(rng, bf):
    for m in (1, 3, 600):
        snps, ns, freq, est, chrom, pos, a1, a2, bfs = _block(rng, m, bf)
        code = rng.integers(0, 5, m).astype(np.int8)
        code[: min(m, 3)] = 0
        overrides = {j: STATUS_NAMES[code[j]] + b":why \xc3\xa9" for j in range(m)
                     if code[j] >= 3 and j % 2}
        statuses = [(overrides[j] if j in overrides else STATUS_NAMES[c]).decode()
                    for j, c in enumerate(code.tolist())]
        got = models_block_lines(code, STATUS_NAMES, overrides,
                                 row_labels(snps, chrom, pos, a1, a2), ns, freq, est, bfs)
        want = partial_block(statuses, models_block_text(snps, ns, freq, est, chrom, pos,
                                                         a1, a2, bfs, code))
        assert got == want


def test_full_precision_columns_are_repr(rng):
    """Likelihood: Python's repr (shortest round trip); frequencies with 6 significant
    digits; NaN as 'NA'."""
    m = 30000
    v = _awkward(rng, 2 * m)
    est = np.zeros((m, 6))
    est[:, 0] = v[:m]
    lines = models_block_lines(np.zeros(m, np.int8), STATUS_NAMES, {},
                               row_labels(["s"] * m, ["1"] * m, [1] * m, ["A"] * m,
                                          ["C"] * m),
                               np.ones(m, np.int64), v[m:], est).decode().splitlines()
    fields = [ln.split("\t") for ln in lines]
    assert [f[4] for f in fields] == ["NA" if x != x else repr(x) for x in v[:m].tolist()]
    assert [f[-2] for f in fields] == ["NA" if x != x else "%.6g" % x
                                       for x in v[m:].tolist()]


def test_new_columns_status_a1_freq_and_na():
    """#20 item 10: a1_freq (unfolded) and status appended; frequency folded with 6
    significant digits (0.977 counted: 0.023, not 0.02300000000000002) and NA where the
    missingness filter failed; every missing value spelled NA."""
    from hlmm.io.output import MODELS_COLUMNS, models_columns

    assert models_columns() == MODELS_COLUMNS + ["a1_freq", "status"]
    assert models_columns(True)[:-2] == MODELS_COLUMNS + ["bf_f", "bf_pval"]
    fits = [SnpFit(10, 0.977, {"likelihood": -5.0, "add": 0.1, "add_se": 0.2, "var": -0.3,
                               "var_se": 0.4}, "ok"),
            SnpFit(10, 0.977, None, "filtered_maf"),
            SnpFit(9, 0.4, None, "filtered_missing"),
            SnpFit(10, 0.3, None, "failed: line search"),
            SnpFit(0, np.nan, None, "unusable: multi-allelic")]
    b = BlockFits.from_fits(fits)
    over = {j: s.encode() for j, s in b.reason_statuses().items()}
    lines = models_block_lines(b.code, STATUS_NAMES, over,
                               row_labels(list("abcde"), ["1"] * 5, [1, 2, 3, 4, 5],
                                          ["A"] * 5, ["C"] * 5), b.n, b.freq, b.est,
                               b.bf).decode().splitlines()
    rows = [ln.split("\t")[1:] for ln in lines]
    names = models_columns(True)
    assert all(len(r) == len(names) for r in rows)
    col = {c: [r[i] for r in rows] for i, c in enumerate(names)}
    assert col["frequency"] == ["0.023", "0.023", "NA", "0.3", "NA"]
    assert col["a1_freq"] == ["0.977", "0.977", "0.4", "0.3", "NA"]
    assert col["status"] == ["ok", "filtered_maf", "filtered_missing", "failed", "unusable"]
    assert col["likelihood"] == ["-5.0", "NA", "NA", "NA", "NA"]
    assert col["av_pval"][1:] == col["bf_f"][1:] == ["NA"] * 4
    assert not any(t.lower() == "nan" for r in rows for t in r)


def test_block_fits_statuses_in_lines():
    fits = [SnpFit(10, 0.2, {"likelihood": -5.0, "add": 0.1, "add_se": 0.2, "var": -0.3,
                             "var_se": 0.4}, "ok"),
            SnpFit(10, 0.3, None, "failed: line\tsearch\nfailed"),
            SnpFit(0, np.nan, None, "unusable: multi-allelic"),
            SnpFit(9, np.nan, None, "filtered_missing")]
    b = BlockFits.from_fits(fits)
    over = {j: s.encode() for j, s in b.reason_statuses().items()}
    lines = models_block_lines(b.code, STATUS_NAMES, over,
                               row_labels(["a", "b", "c", "d"], ["1"] * 4, [1, 2, 3, 4],
                                          ["A"] * 4, ["C"] * 4), b.n, b.freq, b.est)
    assert [ln.split(b"\t", 1)[0].decode() for ln in lines.splitlines()] == b.statuses()
    assert b.statuses()[1] == "failed:line search failed"


def test_empty_block():
    z = np.zeros(0)
    assert models_block_lines(np.zeros(0, np.int8), STATUS_NAMES, {},
                              row_labels([], [], [], [], []), z.astype(np.int64), z,
                              np.zeros((0, 6))) == b""


def _partial_file(path, rng, m):
    codes = ["ok", "filtered_missing", "filtered_maf", "failed:line search", "failed",
             "unusable:multi-allelic", "unusable:monoallelic", "failed:é"]
    st = np.array(codes)[rng.choice(len(codes), m, p=[.7, .05, .05, .05, .05, .04, .03, .03])]
    rows = [f"{s}\trs{j}\t{rng.integers(100)}\t{rng.random()!r}" + "\tx" * int(rng.integers(0, 40))
            for j, s in enumerate(st.tolist())]
    with open(path, "wb") as fh:
        fh.write(("\n".join(rows) + "\n").encode() if rows else b"")


@pytest.mark.parametrize("m,chunk", [(0, 1 << 24), (1, 1 << 24), (5000, 1 << 24),
                                     (5000, 64), (300, 7)])
def test_checkpoint_table_equals_former_writer(tmp_path, rng, m, chunk):
    """Blocks of partial lines packed as a checkpoint keeps them (a record of the rows'
    deflate segment per block, ``status<TAB>SNP`` keys) and written out as a table: the
    same table (header and rows, once decompressed) and counts as GzipFile line by line
    from the whole partial file, fresh and appended as a new member, whatever the blocks
    and chunks; one member (a reader of the first member only reads it all) without
    name or time, and equal input gives equal bytes."""
    import gzip
    import zlib

    from hlmm.io.output import _GZIP_HEADER, pack_block, read_records, write_table
    from output_reference import write_table as former

    part = tmp_path / "p.partial"
    _partial_file(part, rng, m)
    lines = part.read_bytes().splitlines(keepends=True)
    cuts = np.sort(rng.choice(m + 1, min(m + 1, 6), replace=False)) if m else []
    keys, rows = tmp_path / "k", tmp_path / "r"
    with open(keys, "wb") as kf, open(rows, "wb") as rf:
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, m]):
            if b > a:
                record, k = pack_block(b"".join(lines[a:b]))
                assert k.count(b"\n") == b - a
                rf.write(record)
                kf.write(k)
    with open(rows, "rb") as fh:
        assert sum(r[1] for r in read_records(fh)) == m
    header = b"SNP\tn\tfrequency\n"
    got = write_table(keys, rows, tmp_path / "new", header, chunk=chunk)
    want = former(part, tmp_path / "old", header.decode(), append=False)
    assert got == want
    new, old = (tmp_path / "new").read_bytes(), (tmp_path / "old").read_bytes()
    assert new.startswith(_GZIP_HEADER)
    assert gzip.decompress(new) == gzip.decompress(old)
    assert zlib.decompress(new, 31) == gzip.decompress(old)       # one member
    assert write_table(keys, rows, tmp_path / "new", None, chunk=chunk) == \
        former(part, tmp_path / "old", None, append=True)
    assert gzip.decompress((tmp_path / "new").read_bytes()) == \
        gzip.decompress((tmp_path / "old").read_bytes())
    write_table(keys, rows, tmp_path / "again", header, chunk=chunk)
    assert (tmp_path / "again").read_bytes() == new


def test_crc32_combine():
    import zlib

    from hlmm._core._rows import crc32_combine

    rng = np.random.default_rng(5)
    for la, lb in [(0, 0), (1, 0), (0, 5), (10, 1), (1000, 12345), (3, 1 << 20), (7, 255)]:
        a, b = rng.bytes(la), rng.bytes(lb)
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), lb) == zlib.crc32(a + b)


def test_split_keys():
    from hlmm._core._rows import split_keys

    def oracle(data):
        rows, keys = [], []
        for ln in data.splitlines(keepends=True):
            status, row = ln.split(b"\t", 1)
            rows.append(row)
            keys.append(status + b"\t" + row.split(b"\t", 1)[0].rstrip(b"\n") + b"\n")
        return b"".join(rows), b"".join(keys)

    for data in (b"", b"ok\ta\tb\n", b"ok\ta\n", b"failed:r\ts\t1\n", b"\t\t\n",
                 "é\tü\tx\n".encode(), b"oky\ta\nok\tb\n", b"failed\tsnp",
                 b"ok\trs1\t1\t2\nunusable:x y\trs2\n"):
        assert split_keys(data) == oracle(data)
    for bad in (b"no tab\n", b"ok\ta\nno tab\n"):
        with pytest.raises(ValueError, match="without a status column"):
            split_keys(bad)


def test_split_status():
    from hlmm._core._rows import split_status

    def oracle(data):
        rows, n_ok, others = [], 0, []
        for ln in data.splitlines(keepends=True):
            if b"\t" not in ln:
                rows.append(ln)
                continue
            status, row = ln.split(b"\t", 1)
            rows.append(row)
            if status == b"ok":
                n_ok += 1
            else:
                others.append((status, row.split(b"\t", 1)[0].rstrip(b"\n")))
        return b"".join(rows), n_ok, others

    for data in (b"", b"ok\ta\tb\n", b"ok\ta\n\nx\ty", b"no tab\nfailed:r\ts\t1\n",
                 b"\t\t\n\t", "é\tü\tx\n".encode(), b"oky\ta\nok\tb\n", b"failed\tsnp"):
        assert split_status(data) == oracle(data)


def test_repr_in_c_equals_python(rng):
    """The C shortest round trip against repr: scan-like values, every bit pattern,
    integers, short decimals, powers of two and ten and their neighbours."""
    from hlmm._core._format import repr_cells

    m = 200000
    bits = rng.integers(0, 2 ** 63, m, dtype=np.uint64).view(np.float64)
    pw = np.concatenate([2.0 ** np.arange(-30, 60), 10.0 ** np.arange(-8, 20)])
    x = np.concatenate([
        -rng.uniform(1e2, 1e7, m), rng.integers(1, 200001, m) / 200000.0,
        rng.standard_normal(m) * 10.0 ** rng.uniform(-5, 16.5, m),
        np.round(rng.standard_normal(m) * 10.0 ** rng.integers(0, 17, m)),
        rng.integers(1, 10 ** 6, m) * 10.0 ** rng.integers(-12, 12, m),
        bits[np.isfinite(bits)], pw, -pw, np.nextafter(pw, 0), np.nextafter(pw, np.inf),
        [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 9e15, 8.999999999999999e15]])
    assert repr_cells(x) == ["NA" if v != v else repr(v) for v in x.tolist()]
