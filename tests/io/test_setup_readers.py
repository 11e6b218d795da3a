"""The set-up path (issue 15): the compiled text parser, the .fam/.bim reader, the
random-effects design built from packed .bed codes, and lazy imports."""
import os
import subprocess
import sys

import numpy as np
import pytest

from clihelp import write_bed
from hlmm._core import _text
from hlmm.errors import InputError
from hlmm.io.bed import BedFile, read_columns
from hlmm.io.random_effects import (_standardise_inplace, random_effects_from_beds,
                                 random_effects_from_table)
from hlmm.io.tables import Table



# ------------------------------------------------------------------ the text parser

def _tokens(rng, k):
    x = (rng.standard_normal(k) * 10.0 ** rng.integers(-40, 40, k)).tolist()
    out = []
    for v in x:
        out += [repr(v), f"{v:.6g}", f"{v:.3e}", f"{v:.17g}", f"{v:.0f}",
                f"{v:.25f}" if abs(v) < 1e3 else f"{v:.12E}"]
    return out + ["0", "-0", "+0", ".5", "5.", "-.5e-3", "1E5", "1e+05", "00012", "0.000",
                  "1e-400", "4.9e-324", "2.2250738585072014e-308", "9007199254740993",
                  "1" + "0" * 30, "0." + "0" * 30 + "1", "1" * 25 + "e-10", "1e22", "1e23"]


def test_numbers_are_float_to_the_bit():
    """Clinger's fast path and strtod together round as float() does."""
    toks = _tokens(np.random.default_rng(1), 5000)
    data = ("\n".join(f"a b {t}" for t in toks) + "\n").encode()
    status, strings, values, lines = _text.parse_fields(data, 0, 0, [1, 1, 2])
    assert status == _text.OK
    ref = np.array([float(t) for t in toks])
    np.testing.assert_array_equal(values[:, 0].view(np.int64), ref.view(np.int64))
    np.testing.assert_array_equal(lines, np.arange(1, len(toks) + 1))


@pytest.mark.parametrize("tok", ["1e", ".", "e5", "1.5x", "1_0", "inf", "nan", "0x10", "--1",
                                 "1e+", "+", "1..2", "1.2.3"])
def test_tokens_outside_the_grammar_are_reported(tok):
    out = _text.parse_fields(f"a b 1\nc d {tok}\n".encode(), 0, 3, [1, 1, 2])
    assert out[:3] == (_text.BAD_NUMBER, 5, 2) and out[4] == tok


def test_parser_statuses():
    assert _text.parse_fields(b"a b 1e400\n", 0, 0, [1, 1, 2])[:2] == (_text.NOT_FINITE, 1)
    assert _text.parse_fields(b"a b 0.12345678901234567\n", 0, 0, [1, 1, 2],
                              use_strtod=False)[0] == _text.NEEDS_STRTOD
    assert _text.parse_fields(b"a b 1 2\n\n \r\nc d 3\r\n", 0, 5, [1, 1, 2, 0])[:4] == \
        (_text.BAD_COUNT, 9, -1, 3)
    for bad in (b"a b 1\x0c\n", b"a b 1\rc d 2\n", b"a \xc3\xa9 1\n", b"a\x1fb 1\n"):
        assert _text.parse_fields(bad, 0, 0, [1, 1, 2])[0] == _text.UNSUPPORTED
    status, strings, values, lines = _text.parse_fields(
        b"skip me\n\na b NA 2\r\n\t c  d\t3 NA \r\n", 8, 1, [1, 1, 2, 2], b"NA")
    assert status == _text.OK and strings == [["a", "c"], ["b", "d"]]
    np.testing.assert_array_equal(values, [[np.nan, 2.0], [3.0, np.nan]])
    np.testing.assert_array_equal(lines, [3, 4])
    out = _text.parse_fields(b"", 0, 0, [1, 2])
    assert out[0] == _text.OK and out[2].shape == (0, 1)


def test_threads_do_not_change_the_result():
    """Ranges split at line starts: the same rows, line numbers and first problem."""
    rng = np.random.default_rng(2)
    lines = []
    for i in range(150_000):
        lines.append(f"f{i} i{i} {rng.standard_normal():.5f} {i}")
        if i % 997 == 3:
            lines.append("  \t")
    data = ("\n".join(lines) + "\n").encode()     # ~4 MB: several ranges
    one = _text.parse_fields(data, 0, 0, [1, 1, 2, 0], threads=1)
    for threads in (2, 5):
        out = _text.parse_fields(data, 0, 0, [1, 1, 2, 0], threads=threads)
        assert out[0] == _text.OK and out[1] == one[1]
        np.testing.assert_array_equal(out[2], one[2])
        np.testing.assert_array_equal(out[3], one[3])
    assert one[3][-1] == len(lines) and len(one[3]) == 150_000
    bad = data.replace(b"f120000 i120000 ", b"f120000 i120000 x").replace(
        b"f90000 i90000 ", b"f90000 i90000 1 ")
    first = _text.parse_fields(bad, 0, 0, [1, 1, 2, 0], threads=1)
    line = next(j for j, text in enumerate(lines) if text.startswith("f90000 ")) + 1
    assert first[0] == _text.BAD_COUNT and first[1] == line
    assert _text.parse_fields(bad, 0, 0, [1, 1, 2, 0], threads=5) == first


# --------------------------------------------------------------- .fam and .bim

@pytest.fixture
def fileset(tmp_path):
    rng = np.random.default_rng(3)
    n, m = 41, 7
    dos = rng.binomial(2, 0.3, size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.05] = np.nan
    return write_bed(tmp_path / "g", dos), dos


def test_fam_and_bim_equal_bed_readers(fileset):
    import bed_reader

    path, _ = fileset
    ours = BedFile(path)
    with bed_reader.open_bed(path) as ref:
        for name in ("fid", "iid", "sid", "chromosome", "allele_1", "allele_2"):
            np.testing.assert_array_equal(getattr(ours, name), np.asarray(getattr(ref, name)))
        np.testing.assert_array_equal(ours.bp_position, ref.bp_position)
    assert ours.ids == list(zip(ours.fid.tolist(), ours.iid.tolist()))


@pytest.mark.parametrize("text", [
    "f1 i1 0 0 1 -9\n\nf2\ti2\t0\t0\t2\t1.5\r\n",
    "f\u00e9 i1 0 0 1 -9\nf2 i\u00a02 0 0 2 1.5 x\n",     # non-ASCII: the exact reader
    "f1 i1 0 0 1\n",
    "f1 i1 0 0 1 NA\nf\x0c2 i2 0 0 2 1\n",
])
def test_compiled_and_exact_column_readers_agree(tmp_path, text):
    from hlmm.io.bed import FAM_COLUMNS, _read_columns_exact

    p = tmp_path / "x.fam"
    p.write_bytes(text.encode())

    def outcome(read):
        try:
            return read()
        except InputError as exc:
            return str(exc)

    kinds = [1, 3, 0, 0, 2, 1]       # str lists, a numpy str column, numbers
    fast = outcome(lambda: read_columns(str(p), FAM_COLUMNS, kinds))
    exact = outcome(lambda: _read_columns_exact(str(p), p.read_bytes(), FAM_COLUMNS, kinds))
    if isinstance(exact, str):
        assert fast == exact
    else:
        assert [type(x) for x in fast[0]] == [type(x) for x in exact[0]] == \
            [list, np.ndarray, list]
        for f, e in zip(fast[0], exact[0]):
            np.testing.assert_array_equal(np.asarray(f).astype(str), np.asarray(e))
        np.testing.assert_array_equal(fast[1], exact[1])


def test_malformed_fam_and_bim_name_file_and_line(fileset):
    path, _ = fileset
    prefix = path[:-4]
    fam = open(prefix + ".fam").read().splitlines()
    fam[3] += " extra"
    open(prefix + ".fam", "w").write("\n".join(fam) + "\n")
    with pytest.raises(InputError, match=r"g\.fam line 4: expected 6 columns \(FID IID "
                                         r"father mother sex phenotype\), found 7$"):
        BedFile(path)
    fam[3] = fam[3].rsplit(" ", 1)[0]
    open(prefix + ".fam", "w").write("\n".join(fam) + "\n")
    bim = open(prefix + ".bim").read().splitlines()
    bim[2] = bim[2].replace("1002", "1002.5")
    open(prefix + ".bim", "w").write("\n".join(bim) + "\n")
    with pytest.raises(InputError, match=r"g\.bim line 3: position '1002\.5' is not a whole "
                                         r"number in 0\.\.2147483647$"):
        BedFile(path)
    bim[2] = bim[2].replace("1002.5", "12x")
    open(prefix + ".bim", "w").write("\n".join(bim) + "\n")
    with pytest.raises(InputError, match=r"g\.bim line 3: position '12x' is not a whole "
                                         r"number in 0\.\.2147483647$"):
        BedFile(path)


def test_imports_are_lazy(fileset):
    """`import hlmm` needs no scipy; a .bed opens without bed-reader, which is imported
    only to decode dosages."""
    path, dos = fileset
    code = ("import sys, numpy as np, hlmm; from hlmm.io import open_genotypes\n"
            f"b = open_genotypes({path!r}); b.read_packed(0, 2)\n"
            "print('scipy' in sys.modules, 'bed_reader' in sys.modules)\n"
            "x = b.read_dosages(0, 2, np.arange(b.n_samples))\n"
            "print('bed_reader' in sys.modules, x.shape)")
    # run outside the checkout, so that the installed (compiled) package is imported
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(path), check=True).stdout.split("\n")
    assert out[0] == "False False"
    assert out[1] == f"True ({dos.shape[0]}, 2)"


def test_read_dosages_after_lazy_open(fileset):
    path, dos = fileset
    b = BedFile(path)
    idx = np.array([5, 0, 3], dtype=np.intp)
    np.testing.assert_array_equal(b.read_dosages(1, 4, idx), dos[idx, 1:4])


# --------------------------------------------------------- the random-effects design

def standardise_reference(G):
    """hlmm 2.0's numpy code (the oracle): impute the mean, drop no-call and constant
    columns, z-score with the population SD, scale by l^-1/2."""
    G = np.array(G, dtype=float)
    n = G.shape[0]
    missing = np.isnan(G)
    no_calls = missing.sum(axis=0) == n
    means = np.nansum(G, axis=0) / np.maximum(n - missing.sum(axis=0), 1)
    G = np.where(missing, means, G)
    mean = G.mean(axis=0)
    G -= mean
    sd = np.sqrt((G * G).sum(axis=0) / n)
    constant = ~no_calls & (sd <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    keep = ~(no_calls | constant)
    G = G[:, keep] / sd[keep]
    return G * G.shape[1] ** -0.5, int(no_calls.sum()), int(constant.sum())


def _genotypes(rng, n, m):
    dos = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.03] = np.nan
    dos[:, 2] = np.nan               # no calls
    dos[:, 4] = 1.0                  # no variation
    dos[:5, 5] = np.nan
    return dos


@pytest.mark.parametrize("count_a1", [True, False])
@pytest.mark.parametrize("order", ["all", "subset"])
def test_bed_design_equals_the_reference(tmp_path, count_a1, order):
    rng = np.random.default_rng(7)
    n, m = 203, 12
    dos = _genotypes(rng, n, m)
    beds = [BedFile(write_bed(tmp_path / "a", dos[:, :7]), count_a1=count_a1),
            BedFile(write_bed(tmp_path / "b", dos[:, 7:]), count_a1=count_a1)]
    rows = np.arange(n) if order == "all" else rng.permutation(n)[:150]
    ids = [beds[0].ids[i] for i in rows]
    G, info = random_effects_from_beds(beds, ids, num_threads=2)
    counted = dos if count_a1 else 2.0 - dos
    ref, no_calls, constant = standardise_reference(counted[rows])
    assert info == {"snps_read": m, "no_calls": no_calls, "constant": constant,
                    "l": ref.shape[1]} and (no_calls, constant) == (1, 1)
    assert G.flags.c_contiguous
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-14)
    # the float path (.pgen, .bgen, text tables) on the same hard calls: the same bits
    Gf, nc, cc = _standardise_inplace(counted[rows].copy(), "x", num_threads=3)
    assert (nc, cc) == (no_calls, constant)
    np.testing.assert_array_equal(G, Gf)
    # threads do not change a bit
    G1, _ = random_effects_from_beds(beds, ids, num_threads=1)
    np.testing.assert_array_equal(G, G1)


def test_dosage_design_equals_the_reference():
    rng = np.random.default_rng(8)
    n, m = 301, 9
    x = np.clip(_genotypes(rng, n, m) + rng.normal(0, 0.2, (n, m)), 0, 2)
    x[:, 4] = 1.0
    ref, no_calls, constant = standardise_reference(x)
    for threads in (1, 2):
        G, nc, cc = _standardise_inplace(x.copy(), "x", num_threads=threads)
        assert (nc, cc) == (no_calls, constant) == (1, 1)
        np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-14)


def test_text_table_design_and_no_variation_error():
    ids = [(f"f{i}", f"i{i}") for i in range(6)]
    vals = np.array([[0, 1], [1, 1], [2, 1], [np.nan, 1], [1, 1], [0, 1]], dtype=float)
    t = Table("r.txt", ids, ["x1", "x2"], vals)
    G, info = random_effects_from_table(t, ids[::-1])
    ref, _, _ = standardise_reference(vals[::-1])
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-14)   # missing: 0, not ~1e-16
    assert info["constant"] == 1 and info["l"] == 1
    t = Table("r.txt", ids, ["x2"], vals[:, 1:])
    with pytest.raises(InputError, match=r"^r\.txt: no SNP with variation among the analysis "
                                         r"sample$"):
        random_effects_from_table(t, ids)
