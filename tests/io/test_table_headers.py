"""Which first line of a phenotype/covariate table is a header (hlmm.io.tables): FID (or
#FID, IID, #IID) as first token always; otherwise a line none of whose value tokens is a
number (nor the missing string); a line mixing numbers and text is data with a typo, an
error naming the line."""
import pytest

from hlmm.errors import InputError
from hlmm.io.tables import read_table

ROWS = "f0 i0 1.5 2\nf1 i1 NA 3\nf2 i2 0.25 -9\n"


@pytest.mark.parametrize("first, names", [
    ("ID1 ID2 height weight\n", ["height", "weight"]),     # all text: a header
    ("FID IID 1990 2000\n", ["1990", "2000"]),              # FID: a header, whatever follows
    ("#FID IID 1990 2000\n", ["1990", "2000"]),
    ("", ["v1", "v2"]),                                     # no header
])
def test_header_detection(tmp_path, first, names):
    path = tmp_path / "t.txt"
    path.write_text(first + ROWS)
    t = read_table(path)
    assert t.names == names
    assert t.ids == [("f0", "i0"), ("f1", "i1"), ("f2", "i2")]
    assert t.n_missing.tolist() == [1, 1]          # NA, and −9 (PLINK's missing number)


@pytest.mark.parametrize("first", ["f9 i9 1.5 tall\n", "fam ind NA height\n"])
def test_first_line_mixing_numbers_and_text_is_data_with_a_typo(tmp_path, first):
    path = tmp_path / "t.txt"
    path.write_text(first + ROWS)
    with pytest.raises(InputError, match=r"t\.txt line 1"):
        read_table(path)
