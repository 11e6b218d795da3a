"""The reader changes of issue 22, one at a time: string columns whose memory follows the
text, integer positions, the .bed padding check, the number grammar, bounded messages,
the kernels' argument checks."""
import numpy as np
import pytest

from clihelp import write_bed
from hlmm._core import _format, _standardise, _text
from hlmm.cli.options import one_line
from hlmm.errors import InputError
from hlmm.io import first_duplicate
from hlmm.io.bed import BedFile
from hlmm.io.tables import read_table
from hlmm.io.tokens import parse_number, parse_position, show, text_array


# ------------------------------------------------------------------ item 1: memory
def test_a_long_token_makes_an_object_column_of_the_same_strings():
    alleles = ["A", "C", "G" * 2000, "T", "A"]
    data = "".join(f"s{j} {a}\n" for j, a in enumerate(alleles)).encode()
    status, (sid, col), _, _ = _text.parse_fields(data, 0, 0, [3, 3])
    assert status == _text.OK
    assert sid.dtype == np.dtype("S2")               # short tokens: fixed width, as before
    assert col.dtype == object and col.tolist() == alleles
    assert col[0] is col[4]                          # one-byte alleles share one str
    # a fixed width would have cost 5 × 2000 bytes (× 4 as str)
    assert col.nbytes == 5 * 8


def test_fixed_width_kept_when_it_costs_little():
    data = b"".join(b"x %s\n" % (b"ACGT"[j % 4:j % 4 + 1] * (1 + j % 20)) for j in range(100))
    col = _text.parse_fields(data, 0, 0, [0, 3])[1][0]
    assert col.dtype == np.dtype("S20")              # longest 20, mean ~10: within 2×


def test_text_array_object_only_for_a_costly_width():
    short = text_array(["ab", "c", "def"])
    assert short.dtype == np.dtype("U3")
    long = text_array(["a"] * 100 + ["x" * 10_000])
    assert long.dtype == object and long[-1] == "x" * 10_000 and long.nbytes == 101 * 8
    assert text_array([]).shape == (0,)


def test_bim_with_a_1_5_mb_allele_opens_and_keeps_it(tmp_path):
    m, n = 200, 8
    bed = write_bed(tmp_path / "g", np.ones((n, m)))
    lines = open(tmp_path / "g.bim").read().splitlines()
    lines[7] = lines[7].rsplit("\t", 1)[0] + "\t" + "A" * 1_500_000
    open(tmp_path / "g.bim", "w").write("\n".join(lines) + "\n")
    g = BedFile(bed)
    assert g.allele_2.dtype == object and len(g.allele_2[7]) == 1_500_000
    assert g.allele_2.nbytes == 8 * m and g.allele_2[0] == "G"
    assert g.sid.dtype.kind == "U" and g.sid[7] == "snp7"


def test_long_fam_ids_do_not_widen_every_id(tmp_path):
    n = 40
    bed = write_bed(tmp_path / "g", np.ones((n, 3)),
                    iid=[f"i{i}" for i in range(n - 1)] + ["x" * 5000])
    g = BedFile(bed)
    assert g.iid.dtype == object and g.iid[-1] == "x" * 5000 and g.iid[0] == "i0"
    assert g.fid.dtype.kind == "U"
    assert first_duplicate(g.fid, g.iid) is None


def test_first_duplicate_in_file_order_with_object_arrays():
    fid = np.array(["a", "b", "c", "b", "a"], dtype=object)
    iid = np.array(["1", "2", "3", "2", "1"], dtype=object)
    assert first_duplicate(fid, iid) == (1, 3)
    assert first_duplicate(fid, iid, by_iid=True) == (1, 3)
    # tab-free keys: ("a", "bc") and ("ab", "c") are different individuals
    assert first_duplicate(np.array(["a", "ab"]), np.array(["bc", "c"])) is None


# ------------------------------------------------------------------ item 4: positions
@pytest.mark.parametrize("token, value", [("0", 0), ("2147483647", 2**31 - 1), ("007", 7)])
def test_integer_column_accepts(token, value):
    out = _text.parse_fields(f"a {token}\n".encode(), 0, 0, [1, 4])
    assert out[0] == _text.OK and out[2][0, 0] == value
    assert parse_position(token) == value


@pytest.mark.parametrize("token", ["-5", "1e30", "9007199254740993", "2147483648", "1.0",
                                   "+5", "12x", "0x10", "99999999999999999999999"])
def test_integer_column_refuses(token):
    out = _text.parse_fields(f"a {token}\n".encode(), 0, 0, [1, 4])
    assert out[:3] == (_text.BAD_INTEGER, 1, 1) and out[4] == token
    assert parse_position(token) is None


def test_unknown_column_kind_refused():
    with pytest.raises(ValueError, match="unknown column kind 5"):
        _text.parse_fields(b"a b\n", 0, 0, [1, 5])


# ------------------------------------------------------------------ item 5: .bed padding
def _fileset(tmp_path, n, m, last=1.0):
    dos = np.random.default_rng(3).binomial(2, 0.4, size=(n, m)).astype(float)
    dos[-1, :] = last
    return write_bed(tmp_path / "g", dos)


def test_fam_one_short_is_an_error_at_opening(tmp_path):
    bed = _fileset(tmp_path, 62, 10)
    lines = open(tmp_path / "g.fam").read().splitlines()
    open(tmp_path / "g.fam", "w").write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(InputError, match=r"g\.fam has fewer individuals than the \.bed: "
                                         r"SNP 1 \(snp0\)"):
        BedFile(bed)


def test_padding_checked_on_every_read(tmp_path, monkeypatch):
    """SNPs past those checked on opening: read_packed and read_dosages check theirs."""
    bed = _fileset(tmp_path, 62, 30, last=2.0)           # the last individual code 00
    with open(bed, "r+b") as fh:                         # padding set at SNP 25 only
        fh.seek(3 + 25 * 16 + 15)
        byte = fh.read(1)[0]
        fh.seek(3 + 25 * 16 + 15)
        fh.write(bytes([byte | 0b10000000]))
    with pytest.raises(InputError, match="SNP 26"):
        BedFile(bed)
    monkeypatch.setattr(BedFile, "_check_padding_on_open", lambda self, fam, k=0: None)
    g = BedFile(bed)
    assert g.read_packed(0, 25).shape == (25, 16)
    assert g.read_dosages(0, 25, np.arange(62)).shape == (62, 25)
    with pytest.raises(InputError, match="fewer individuals than the .bed: SNP 26"):
        g.read_packed(20, 30)
    with pytest.raises(InputError, match="fewer individuals than the .bed: SNP 26"):
        g.read_dosages(24, 27, np.arange(62))


def test_fam_longer_than_bed_warns(tmp_path, capsys):
    bed = _fileset(tmp_path, 61, 25)
    with open(tmp_path / "g.fam", "a") as fh:
        fh.write("fx ix 0 0 0 -9\n")
    g = BedFile(bed)
    assert g.n_samples == 62
    err = capsys.readouterr().err
    assert "warning" in err and "ix" in err and "longer than the .bed" in err


def test_no_warning_for_a_valid_fileset(tmp_path, capsys):
    BedFile(_fileset(tmp_path, 62, 25))
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ items 3, 6, 7
@pytest.mark.parametrize("token", ["1_5", "١٥", "１５", "0x10", "1d5", "", "."])
def test_number_grammar_refuses(token):
    assert parse_number(token) is None


@pytest.mark.parametrize("token, value", [("15", 15.0), ("-1.5e3", -1500.0), (".5", 0.5),
                                          ("5.", 5.0), ("+2", 2.0)])
def test_number_grammar_accepts(token, value):
    assert parse_number(token) == value


def test_non_ascii_table_numbers_refused(tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("FID IID y\nf1 é 1\nf2 i2 ١٥\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: non-numeric value '١٥' in column 3"):
        read_table(p)


def test_duplicate_column_found_among_many(tmp_path):
    k = 20_000
    names = [f"p{j}" for j in range(k)] + ["p17"]
    p = tmp_path / "wide.txt"
    p.write_text("FID IID " + " ".join(names) + "\nf i " + " ".join(["1"] * (k + 1)) + "\n")
    with pytest.raises(InputError, match="column name 'p17' appears twice"):
        read_table(p)


def test_show_cuts_and_escapes():
    assert show("ab") == "'ab'"
    assert show("a\x00b") == "'a\\x00b'"
    long = show("9" * 10_000)
    assert len(long) < 80 and long.endswith("(10,000 characters)")


def test_one_line_messages():
    assert one_line("a\tb\nc\x00") == "a\\tb\\nc\\x00"
    assert one_line("plain é") == "plain é"
    out = one_line("x" * 50_000)
    assert len(out) < 1100 and "characters" in out and "\n" not in out


# ------------------------------------------------------------------ item 8: kernels
def _lines_args(m=2):
    heads = b"s0s1"
    tails = b"\t1\t5\tA\tG\t1\t6\tA\tG"
    return dict(code=np.zeros(m, np.int8), names=[b"ok"], overrides={}, heads=heads,
                head_off=np.array([0, 2, 4]), tails=tails, tail_off=np.array([0, 8, 16]),
                n=np.array([10, 10]), freq=np.array([0.1, 0.2]), like=np.array([1.0, 2.0]),
                cells=np.zeros((m, 3)))


def _call(kw):
    return _format.partial_lines(kw["code"], kw["names"], kw["overrides"], kw["heads"],
                                 kw["head_off"], kw["tails"], kw["tail_off"], kw["n"],
                                 kw["freq"], kw["like"], kw["cells"])


def test_partial_lines_valid_and_checked():
    kw = _lines_args()
    assert _call(kw).count(b"\n") == 2
    kw["head_off"] = np.array([0, 3, 2])
    with pytest.raises(ValueError, match="backwards"):
        _call(kw)
    kw = _lines_args()
    kw["tail_off"] = np.array([-4, 8, 16])
    with pytest.raises(ValueError, match="negative"):
        _call(kw)
    kw = _lines_args()
    kw["code"] = np.array([0, 1], np.int8)
    with pytest.raises(ValueError, match="without a name"):
        _call(kw)
    kw = _lines_args()
    kw["names"] = ["ok"]
    with pytest.raises(TypeError, match="bytes"):
        _call(kw)
    kw = _lines_args()
    kw["overrides"] = {1: "filtered"}
    with pytest.raises(TypeError, match="bytes"):
        _call(kw)


def test_partial_lines_many_cells_fit():
    """More cells than the fixed allowance per row (13) get room of their own."""
    kw = _lines_args()
    kw["cells"] = np.full((2, 200), -1.23456789e-300)
    out = _call(kw)
    assert out.count(b"-1.23457e-300") == 400


def test_standardise_ranges_checked():
    G = np.zeros((4, 3))
    m, total = np.zeros(3, np.int64), np.zeros(3)
    counts, hard = np.zeros((3, 3), np.int64), np.zeros(3, np.int8)
    _standardise.column_sums(G, 0, 3, m, total, counts, hard)
    with pytest.raises(ValueError, match="outside"):
        _standardise.column_sums(G, 0, 4, m, total, counts, hard)
    with pytest.raises(ValueError, match="outside"):
        _standardise.column_ss(G, -1, 2, np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="shorter"):
        _standardise.column_ss(G, 0, 3, np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="outside"):
        _standardise.standardise_rows(G, 0, 5, np.zeros(3), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="one value per column"):
        _standardise.standardise_rows(G, 0, 4, np.zeros(2), np.ones(3), 1.0)
    packed = np.zeros((2, 1), np.uint8)
    with pytest.raises(ValueError, match="outside"):
        _standardise.bed_code_counts(packed, np.arange(3), 0, 3, np.zeros((3, 4), np.int64))
