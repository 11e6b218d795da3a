"""Phenotype/covariate tables (gzip, PLINK 2 headers, the fast reader) and the PLINK-style
variant and sample selection of hlmm.io.selection."""
import gzip
import time

import numpy as np
import pytest

from hlmm.io import tables
from hlmm.errors import InputError
from hlmm.io.selection import (SampleList, VariantList, normalise_chrom, parse_chr_list,
                            read_sample_list, read_variant_list, select_samples,
                            select_variants)
from hlmm.io.tables import match_keys, read_table


def write(path, text, gz=False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def read_exact(path, missing="NA", missing_number=-9.0, monkeypatch=None):
    """read_table with both fast readers switched off (the token-by-token reference)."""
    monkeypatch.setattr(tables, "_parse_compiled", lambda *a, **k: (None, False))
    monkeypatch.setattr(tables, "_parse_fast", lambda *a, **k: None)
    try:
        return read_table(path, missing, missing_number)
    finally:
        monkeypatch.undo()


def read_numpy(path, missing="NA", missing_number=-9.0, monkeypatch=None):
    """read_table with the compiled reader switched off (numpy's reader, then exact)."""
    monkeypatch.setattr(tables, "_parse_compiled", lambda *a, **k: (None, True))
    try:
        return read_table(path, missing, missing_number)
    finally:
        monkeypatch.undo()


def assert_same(a, b):
    assert a.ids == b.ids
    assert a.names == b.names
    assert a.match_by_iid == b.match_by_iid
    np.testing.assert_array_equal(a.values, b.values)   # NaN == NaN here
    np.testing.assert_array_equal(np.signbit(a.values), np.signbit(b.values))   # -0.0
    np.testing.assert_array_equal(a.n_missing, b.n_missing)
    np.testing.assert_array_equal(a.line_numbers, b.line_numbers)


PHENO = ("FID IID y x\n"
         "f1 i1 1.5 NA\n"
         "\n"
         "f2 i2 -9 2\n"
         "f3 NA12878 3e-2 -0.5\n")


# --------------------------------------------------------------------------- gzip

def test_gzip_and_plain_give_identical_tables(tmp_path):
    plain = read_table(write(tmp_path / "p.txt", PHENO))
    packed = read_table(write(tmp_path / "p.txt.gz", PHENO, gz=True))
    assert_same(plain, packed)
    assert plain.ids[2] == ("f3", "NA12878")
    np.testing.assert_array_equal(plain.n_missing, [1, 1])
    assert list(plain.line_numbers) == [2, 4, 5]


def test_gzip_is_recognised_by_magic_bytes_not_name(tmp_path):
    a = read_table(write(tmp_path / "gz_named.gz", PHENO))          # plain, named .gz
    b = read_table(write(tmp_path / "plain_named.txt", PHENO, gz=True))   # gzip, named .txt
    assert_same(a, b)


def test_corrupt_gzip_is_an_input_error(tmp_path):
    data = gzip.compress(PHENO.encode())
    p = tmp_path / "bad.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"bad\.gz: cannot read \(corrupt or truncated gzip"):
        read_table(str(p))


def test_errors_in_gzip_files_name_file_and_line(tmp_path):
    p = write(tmp_path / "e.txt.gz", "FID IID y\nf1 i1 1\nf2 i2 oops\n", gz=True)
    with pytest.raises(InputError, match=r"e\.txt\.gz line 3: non-numeric value 'oops' in "
                                         r"column 3 \(y\)"):
        read_table(p)


# ------------------------------------------------------------------ PLINK 2 headers

@pytest.mark.parametrize("head", ["#IID", "IID"])
def test_iid_only_header(tmp_path, head):
    t = read_table(write(tmp_path / "p.txt", f"{head} y z\ni1 1 NA\ni2 -9 4\n"))
    assert t.match_by_iid
    assert t.names == ["y", "z"]
    assert t.ids == [(None, "i1"), (None, "i2")]
    assert t.fids == [None, None] and t.iids == ["i1", "i2"]
    assert t.keys() == ["i1", "i2"] and t.keys(by_iid=True) == ["i1", "i2"]
    assert t.row_index() == {"i1": 0, "i2": 1}
    np.testing.assert_array_equal(t.values, [[1, np.nan], [np.nan, 4]])
    with pytest.raises(ValueError, match="no FID column"):
        t.keys(by_iid=False)


def test_hash_fid_header(tmp_path):
    t = read_table(write(tmp_path / "p.txt", "#FID IID y\nf1 i1 1\nf2 i2 2\n"))
    assert not t.match_by_iid
    assert t.names == ["y"]
    assert t.ids == [("f1", "i1"), ("f2", "i2")]
    assert t.keys() == [("f1", "i1"), ("f2", "i2")]
    assert t.keys(by_iid=True) == ["i1", "i2"]
    assert t.row_index(by_iid=True) == {"i1": 0, "i2": 1}


def test_hash_fid_header_needs_iid(tmp_path):
    with pytest.raises(InputError, match=r"p\.txt line 2: a '#FID' header must continue "
                                         r"with 'IID'"):
        read_table(write(tmp_path / "p.txt", "\n#FID y\nf1 1\n"))


def test_iid_only_needs_a_value_column(tmp_path):
    with pytest.raises(InputError, match=r"p\.txt line 1: expected IID and at least one "
                                         r"value column"):
        read_table(write(tmp_path / "p.txt", "#IID\ni1\n"))


def test_sid_column_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"p\.txt line 1: a SID column"):
        read_table(write(tmp_path / "p.txt", "#IID SID y\ni1 s1 1\n"))


def test_iid_only_gz_equals_plain(tmp_path):
    text = "#IID y\ni1 1\ni2 NA\n\ni3 -9\n"
    assert_same(read_table(write(tmp_path / "a.txt", text)),
                read_table(write(tmp_path / "b.gz", text, gz=True)))


# ------------------------------------------------------------------ duplicates

def test_duplicate_iid_in_iid_only_file(tmp_path):
    p = write(tmp_path / "d.txt", "#IID y\ni1 1\ni2 2\n\ni1 3\n")
    with pytest.raises(InputError, match=r"d\.txt line 5: duplicate individual i1 "
                                         r"\(first on line 2\)"):
        read_table(p)


def test_same_iid_under_two_fids_is_not_a_duplicate_by_fid_iid(tmp_path):
    t = read_table(write(tmp_path / "d.txt", "FID IID y\nA i1 1\nB i1 2\n"))
    assert t.keys() == [("A", "i1"), ("B", "i1")]
    with pytest.raises(InputError, match=r"d\.txt line 3: IID i1 is also on line 2 "
                                         r"\(FIDs A and B\)"):
        t.row_index(by_iid=True)


def test_duplicate_fid_iid_names_both_lines(tmp_path):
    p = write(tmp_path / "d.txt", "FID IID y\nA i1 1\nB i2 2\nA i1 3\n")
    with pytest.raises(InputError, match=r"d\.txt line 4: duplicate individual A i1 "
                                         r"\(first on line 2\)"):
        read_table(p)


def test_match_keys():
    ids = [("f", "a"), ("g", "b")]
    assert match_keys(ids, False) == ids
    assert match_keys(ids, True) == ["a", "b"]


# ------------------------------------------------------------- error messages

@pytest.mark.parametrize("body, message", [
    ("f1 i1 1 2\n\nf2 i2 3\n", r"t\.txt line 4: expected 4 columns, found 3"),
    ("f1 i1 1 2\nf2 i2 3 4 5\n", r"t\.txt line 3: expected 4 columns, found 5"),
    ("f1 i1 1 2\nf2 i2 3 x\n", r"t\.txt line 3: non-numeric value 'x' in column 4 \(b\)"),
    ("f1 i1 1 nan\n", r"t\.txt line 2: non-finite value 'nan' in column 4 \(b\)"),
    ("f1 i1 inf 2\n", r"t\.txt line 2: non-finite value 'inf' in column 3 \(a\)"),
    ("f1 i1 +NA 2\n", r"t\.txt line 2: non-numeric value '\+NA' in column 3 \(a\)"),
    ("", r"t\.txt: the file has a header but no data lines"),
])
def test_errors_name_file_and_line(tmp_path, body, message):
    with pytest.raises(InputError, match=message):
        read_table(write(tmp_path / "t.txt", "FID IID a b\n" + body))


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(InputError, match=r"e\.txt: the file is empty"):
        read_table(write(tmp_path / "e.txt", "\n  \n"))
    with pytest.raises(InputError, match=r"nope\.txt: file not found"):
        read_table(str(tmp_path / "nope.txt"))


def test_error_deep_in_a_large_file_names_its_line(tmp_path):
    rng = np.random.default_rng(1)
    rows = [f"f{i} i{i} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(5))
            for i in range(20000)]
    rows[15321] = rows[15321].rsplit(" ", 1)[0] + " 1.2.3"
    p = write(tmp_path / "big.txt.gz", "FID IID a b c d e\n" + "\n".join(rows) + "\n", gz=True)
    with pytest.raises(InputError, match=r"big\.txt\.gz line 15323: non-numeric value '1\.2\.3' "
                                         r"in column 7 \(e\)"):
        read_table(p)


# --------------------------------------------- the fast reader equals the exact one

TRICKY = [
    "FID IID a b\nf1 i1 1 NA\nf2 i2 NA NA\n",                        # missing at line ends
    "f1\ti1\t1\t2\r\nf2\ti2\t-9\tNA\r\n",                           # tabs, CRLF, no header
    "\n\nFID IID a\n\nf1 i1 1\n   \nf2 i2 2\n\n",                   # blank lines
    "FID IID a\nNA12878 NA12891 NA\nNA i3 4\n",                     # IDs containing / equal NA
    "FID IID a\nf1 i1 NANA\n",                                      # missing inside a token
    "#IID a b\ni1 NA 1\ni2 2 NA\n",
    "FID IID a\nf1 i1 1e400\n",                                     # overflow: inf, an error
    "FID IID a\nf1 i1 1_0\nf2 i2 ٣\n",                              # float() accepts these
    "FID IID a\nf1 i1 -9\nf2 i2 -9.0\nf3 i3 -9.5\n",
    # numbers: 17 significant digits, exponents, signs, bare points, zeros, subnormals
    "FID IID a b c\nf1 i1 0.12345678901234567 -1.7976931348623157e308 +.5\n"
    "f2 i2 5. -0 1E-5\nf3 i3 123456789012345678901234 4.9e-324 1e-400\n"
    "f4 i4 00012.500 9007199254740993 1e22\n",
    "FID IID a\nf1 i1 1.5\rf2 i2 2.5\n",                         # a lone CR ends a line
    "FID IID a\nf1 i1 1.5\x0cf2 i2 2.5\n",                       # form feed, \x1c-\x1e too
    "FID IID a\nf1 i1 1.5\x1ef2 i2 2.5\x1f\n",
    "\ufeffFID IID a\nf1 i1 1\n",                                 # a byte-order mark
    "FID IID a\nf\u00e9 i1 1\nf2 i\u00a02 2\n",                 # non-ASCII, NBSP splits
    "FID IID a\nf1 i1 1 2\nf2 i2\n",                             # column counts
    "FID IID a\nf1 i1 1.5e\n",
    "f1 i1 1\nf1 i1 2\n",                                         # a repeated individual
    "FID IID a\n\n \r\n",                                       # a header, no data
]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("missing", ["NA", "-9", "nan"])
@pytest.mark.parametrize("missing_number", [-9.0, None])
@pytest.mark.parametrize("reader", ["compiled", "numpy"])
def test_fast_reader_equals_exact_reader(tmp_path, monkeypatch, text, missing, missing_number,
                                         reader):
    """The compiled reader (ASCII files) and numpy's reader give the exact reader's table
    or error, to the bit."""
    p = write(tmp_path / "t.txt", text)

    def outcome(read):
        try:
            return read()
        except InputError as exc:
            return str(exc)

    if reader == "compiled":
        fast = outcome(lambda: read_table(p, missing, missing_number))
    else:
        fast = outcome(lambda: read_numpy(p, missing, missing_number, monkeypatch))
    exact = outcome(lambda: read_exact(p, missing, missing_number, monkeypatch))
    if isinstance(exact, str):
        assert fast == exact
    else:
        assert_same(fast, exact)


def test_long_header_line(tmp_path):
    k = 8000                                    # a header far longer than the first chunk
    names = [f"a_rather_long_column_name_{j}" for j in range(k)]
    text = "FID IID " + " ".join(names) + "\nf1 i1 " + " ".join(["1"] * k) + "\n"
    t = read_table(write(tmp_path / "w.txt", text))
    assert t.names == names and t.values.shape == (1, k)


def _big_table(path, n, k, seed=0):
    rng = np.random.default_rng(seed)
    vocab = np.array([f"{v:.6g}" for v in rng.standard_normal(997)] + ["NA", "-9", "NA"])
    tok = vocab[rng.integers(0, vocab.size, size=(n, k))]
    header = "FID IID " + " ".join(f"c{j}" for j in range(k))
    rows = [f"F{i} I{i} " + " ".join(r) for i, r in enumerate(tok.tolist())]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    expected = np.where(np.isin(tok, ["NA", "-9"]), np.nan,
                        np.where(np.isin(tok, ["NA", "-9"]), "0", tok).astype(float))
    return str(path), expected


@pytest.mark.parametrize("n, k", [(100_000, 100), (500_000, 1)])
def test_speed_of_large_tables(tmp_path, n, k):
    """Prints the time (pytest -s); asserts only the content."""
    path, expected = _big_table(tmp_path / f"big_{n}x{k}.txt", n, k)
    t0, c0 = time.perf_counter(), time.process_time()
    t = read_table(path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"\nread_table {n} rows x {k} columns: {wall:.3f} s wall, {cpu:.3f} s CPU")
    assert t.values.shape == (n, k)
    np.testing.assert_array_equal(t.values, expected)
    assert t.ids[0] == ("F0", "I0") and t.ids[-1] == (f"F{n - 1}", f"I{n - 1}")


# ========================================================================= selection

# ------------------------------------------------------------ --keep / --remove

@pytest.mark.parametrize("text, iid_only, keys", [
    ("f1 i1\nf2 i2 extra\n", False, {("f1", "i1"), ("f2", "i2")}),
    ("#FID IID\nf1 i1\n", False, {("f1", "i1")}),
    ("FID IID SEX\nf1 i1 2\n", False, {("f1", "i1")}),
    ("i1\n\ni2\ni1\n", True, {"i1", "i2"}),
    ("#IID\ni1\ni2\n", True, {"i1", "i2"}),
    ("IID SEX\ni1 1\n", True, {"i1"}),
])
def test_read_sample_list(tmp_path, text, iid_only, keys):
    for gz in (False, True):
        lst = read_sample_list(write(tmp_path / f"k{gz}", text, gz=gz), "--keep")
        assert lst.iid_only is iid_only
        assert lst.keys == keys
        assert lst.option == "--keep"


@pytest.mark.parametrize("text, message", [
    ("", r"--remove .*k\.txt: the file lists no individuals"),
    ("#FID IID\n\n", r"--remove .*k\.txt: the file lists no individuals"),
    ("i1\ni2 x\n", r"--remove .*k\.txt line 2: expected one IID per line \(as on line 1\), "
                   r"found 2 columns"),
    ("FID IID\nf1 i1\nf2\n", r"--remove .*k\.txt line 3: expected FID and IID, found 1 column"),
    ("#FID\nf1 i1\n", r"--remove .*k\.txt line 1: a '#FID' header must continue with 'IID'"),
])
def test_read_sample_list_errors(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_sample_list(write(tmp_path / "k.txt", text), "--remove")


def test_read_lists_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"--keep .*none\.txt: file not found"):
        read_sample_list(str(tmp_path / "none.txt"), "--keep")
    with pytest.raises(InputError, match=r"--exclude .*none\.txt: file not found"):
        read_variant_list(str(tmp_path / "none.txt"), "--exclude")


def test_read_variant_list(tmp_path):
    text = "rs1\n\n  rs2 extra words\nrs1\n"
    for gz in (False, True):
        lst = read_variant_list(write(tmp_path / f"v{gz}", text, gz=gz), "--exclude")
        assert lst.ids == {"rs1", "rs2"} and lst.n_listed == 3 and lst.option == "--exclude"
    with pytest.raises(InputError, match=r"--extract .*e\.txt: the file lists no variants"):
        read_variant_list(write(tmp_path / "e.txt", "\n \n"), "--extract")


# -------------------------------------------------------------------- --chr

@pytest.mark.parametrize("text, expected", [
    ("1-3,X,22", {"1", "2", "3", "X", "22"}),
    ("chr1", {"1"}),
    ("23,24,25,26", {"X", "Y", "XY", "MT"}),
    ("M", {"MT"}),
    ("chrM,x,y,xy,mt", {"MT", "X", "Y", "XY"}),
    ("22-25", {"22", "X", "Y", "XY"}),
    ("chr1-chr2 05", {"1", "2", "5"}),
    ("01,001-2", {"1", "2"}),
    ("0", {"0"}),
    ("GL000192.1", {"GL000192.1"}),
])
def test_parse_chr_list(text, expected):
    assert parse_chr_list(text) == expected


@pytest.mark.parametrize("text, message", [
    ("X-Y", r"--chr 'X-Y': 'X-Y' is not a range of chromosome numbers"),
    ("22-X", r"'22-X' is not a range of chromosome numbers"),
    ("3-1", r"--chr '3-1': the range '3-1' runs backwards"),
    ("1,,2", r"--chr '1,,2': empty chromosome name"),
    ("", r"empty chromosome name"),
    ("-1", r"'-1' is not a range"),
])
def test_parse_chr_list_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_chr_list(text)


@pytest.mark.parametrize("name, expected", [
    ("1", "1"), ("01", "1"), ("chr1", "1"), ("CHR7", "7"), ("23", "X"), ("chr23", "X"),
    ("24", "Y"), ("25", "XY"), ("26", "MT"), ("M", "MT"), ("chrM", "MT"), ("x", "X"),
    ("chrX", "X"), ("0", "0"), ("chrUn_gl000220", "Un_gl000220"), (" 2 ", "2"),
])
def test_normalise_chrom(name, expected):
    assert normalise_chrom(name) == expected


# ------------------------------------------------------------ select_variants

SID = np.array([f"rs{i}" for i in range(12)])
CHROM = np.array(["chr1"] * 4 + ["chr2"] * 4 + ["chr23"] * 2 + ["chrM"] * 2)
BP = np.array([100, 200, 300, 400, 100, 200, 300, 400, 50, 60, 1, 2])


def test_select_all_and_range():
    idx, steps = select_variants(SID, CHROM, BP, source_name="g.bim")
    np.testing.assert_array_equal(idx, np.arange(12))
    assert idx.dtype == np.int64
    assert steps == [("variants in g.bim", 12)]
    idx, steps = select_variants(SID, CHROM, BP, start=2, stop=6, source_name="g.bim")
    np.testing.assert_array_equal(idx, [2, 3, 4, 5])
    assert steps[-1] == ("START 2 END 6 (variants 2..5)", 4)


@pytest.mark.parametrize("start, stop, message", [
    (-1, 3, r"START -1 and END 3 must be non-negative"),
    (5, 3, r"START 5 is greater than END 3"),
    (12, 20, r"START 12 is past the last of the 12 SNPs in g\.bim"),
])
def test_select_range_errors(start, stop, message):
    with pytest.raises(InputError, match=message):
        select_variants(SID, CHROM, BP, start=start, stop=stop, source_name="g.bim")


def test_select_chr_with_plink_codes():
    idx, steps = select_variants(SID, CHROM, BP, chroms="X,26", source_name="g.bim")
    np.testing.assert_array_equal(idx, [8, 9, 10, 11])
    assert steps[-1] == ("--chr X,26", 4)
    idx, _ = select_variants(SID, CHROM, BP, chroms="1-2")
    np.testing.assert_array_equal(idx, np.arange(8))
    idx, _ = select_variants(SID, CHROM, BP, chroms={"chr2"})          # a set of names
    np.testing.assert_array_equal(idx, [4, 5, 6, 7])
    idx, _ = select_variants(SID, CHROM, BP, chroms="2-22")    # some absent: fine
    np.testing.assert_array_equal(idx, [4, 5, 6, 7])


def test_select_chr_absent_is_an_error():
    with pytest.raises(InputError, match=r"^--chr Y: no variant on chromosome Y in g\.bim$"):
        select_variants(SID, CHROM, BP, chroms="Y", source_name="g.bim")
    with pytest.raises(InputError, match=r"^--chr 3-4: no variant on chromosomes 3, 4 in g\.bim$"):
        select_variants(SID, CHROM, BP, chroms="3-4", source_name="g.bim")


def test_select_bp_window():
    idx, steps = select_variants(SID, CHROM, BP, chroms="1", from_bp=200, to_bp=300)
    np.testing.assert_array_equal(idx, [1, 2])                        # inclusive
    assert steps[-1] == ("--from-bp 200 --to-bp 300", 2)
    idx, _ = select_variants(SID, CHROM, BP, chroms="2", from_bp=300)
    np.testing.assert_array_equal(idx, [6, 7])
    idx, _ = select_variants(SID, CHROM, BP, chroms="chr1", to_bp=100)
    np.testing.assert_array_equal(idx, [0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(from_bp=1), r"^--from-bp needs exactly one chromosome in --chr$"),
    (dict(from_bp=1, to_bp=5, chroms="1,2"),
     r"^--from-bp/--to-bp need exactly one chromosome in --chr \(--chr 1,2 names 2\)$"),
    (dict(chroms="1", from_bp=300, to_bp=200), r"--from-bp 300 is greater than --to-bp 200"),
])
def test_select_bp_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        select_variants(SID, CHROM, BP, **kwargs)


def test_select_extract_exclude(tmp_path):
    ext = read_variant_list(write(tmp_path / "ext.txt", "rs1\nrs2\nrs9\nrs_absent\n"),
                            "--extract")
    exc = read_variant_list(write(tmp_path / "exc.txt", "rs2\n"), "--exclude")
    idx, steps = select_variants(SID, CHROM, BP, extract=ext, exclude=exc, source_name="g")
    np.testing.assert_array_equal(idx, [1, 9])
    assert steps == [("variants in g", 12), (f"--extract {ext.path}", 3),
                     (f"--exclude {exc.path}", 2)]
    idx, _ = select_variants(SID, CHROM, BP, extract={"rs3"}, exclude=["rs0"])  # plain sets
    np.testing.assert_array_equal(idx, [3])


def test_select_extract_nothing_is_an_error(tmp_path):
    ext = read_variant_list(write(tmp_path / "ext.txt", "rsA\nrsB\n"), "--extract")
    with pytest.raises(InputError, match=r"^--extract .*ext\.txt: none of its 2 variant IDs "
                                         r"is in g\.bim$"):
        select_variants(SID, CHROM, BP, extract=ext, source_name="g.bim")


def test_select_combined_steps_and_counts(tmp_path):
    ext = read_variant_list(write(tmp_path / "ext.txt", "rs0 rs1\nrs1\nrs2\nrs3\nrs5\n"),
                            "--extract")
    exc = VariantList("x.txt", "--exclude", frozenset({"rs3"}), 1)
    idx, steps = select_variants(SID, CHROM, BP, start=1, stop=10, chroms="chr1",
                                 from_bp=150, to_bp=400, extract=ext, exclude=exc,
                                 source_name="g.bim")
    np.testing.assert_array_equal(idx, [1, 2])
    assert steps == [("variants in g.bim", 12),
                     ("START 1 END 10 (variants 1..9)", 9),
                     ("--chr chr1", 3),
                     ("--from-bp 150 --to-bp 400", 3),
                     (f"--extract {ext.path}", 3),       # rs1, rs2, rs3 (rs0 line 1)
                     ("--exclude x.txt", 2)]


def test_select_nothing_left_lists_the_steps():
    with pytest.raises(InputError, match=r"^no variants left to test: variants in g\.bim: 12, "
                                         r"then START 0 END 4 \(variants 0\.\.3\): 4, "
                                         r"then --chr 2: 0$"):
        select_variants(SID, CHROM, BP, start=0, stop=4, chroms="2", source_name="g.bim")
    with pytest.raises(InputError, match=r"no variants left to test"):
        select_variants(SID, CHROM, BP, extract={"rs1"}, exclude={"rs1"})


def test_select_unsorted_chromosome_column():
    chrom = np.array(["1", "2", "1", "X", "23", "1"])
    idx, _ = select_variants(np.arange(6).astype(str), chrom, np.zeros(6), chroms="X")
    np.testing.assert_array_equal(idx, [3, 4])


# ------------------------------------------------------------- select_samples

KEYS = [("A", "i1"), ("A", "i2"), ("B", "i1"), ("C", "i3")]


def slist(keys, iid_only, option="--keep", path="k.txt"):
    return SampleList(path, option, iid_only, frozenset(keys), len(keys))


def test_keep_by_fid_iid():
    mask, steps = select_samples(KEYS, keep=slist({("A", "i1"), ("C", "i3")}, False),
                                 source_name="g.fam")
    np.testing.assert_array_equal(mask, [True, False, False, True])
    assert steps == [("individuals in g.fam", 4), ("--keep k.txt", 2)]


def test_iid_only_list_matches_by_iid():
    mask, _ = select_samples(KEYS, keep=slist({"i1"}, True))
    np.testing.assert_array_equal(mask, [True, False, True, False])
    mask, _ = select_samples(KEYS, remove=slist({"i1"}, True, "--remove"))
    np.testing.assert_array_equal(mask, [False, True, False, True])


def test_fid_list_by_iid_for_sources_without_fids():
    lst = slist({("X", "i1"), ("Y", "i3")}, False)
    mask, _ = select_samples(KEYS, keep=lst, by_iid=True)
    np.testing.assert_array_equal(mask, [True, False, True, True])
    mask, _ = select_samples([(None, "i1"), (None, "i2")], keep=lst)     # a #IID table
    np.testing.assert_array_equal(mask, [True, False])


def test_keep_then_remove_counts(tmp_path):
    keep = read_sample_list(write(tmp_path / "keep.txt", "A i1\nA i2\nC i3\nZ i9\n"), "--keep")
    remove = read_sample_list(write(tmp_path / "rm.txt", "#IID\ni2\n"), "--remove")
    mask, steps = select_samples(KEYS, keep=keep, remove=remove, source_name="g.fam")
    np.testing.assert_array_equal(mask, [True, False, False, True])
    assert steps == [("individuals in g.fam", 4),
                     (f"--keep {keep.path} (1 of its 4 individuals not in g.fam)", 3),
                     (f"--remove {remove.path}", 2)]


def test_sample_selection_errors():
    with pytest.raises(InputError, match=r"^--keep k\.txt: none of the 1 individuals it lists "
                                         r"is in g\.fam$"):
        select_samples(KEYS, keep=slist({("Q", "i1")}, False), source_name="g.fam")
    with pytest.raises(InputError, match=r"^no individuals left: individuals in g\.fam: 4, "
                                         r"then --remove r\.txt: 0$"):
        select_samples(KEYS, remove=slist({"i1", "i2", "i3"}, True, "--remove", "r.txt"),
                       source_name="g.fam")
