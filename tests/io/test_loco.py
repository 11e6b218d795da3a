"""hlmm.io.loco: REGENIE's PREFIX_pred.list and .loco files as REGENIE writes them
(write_ID_header: 'FID_IID ' then each individual's FID_IID and a space, in std::map
order; write_chr_row: the chromosome, each prediction or NA, a trailing space)."""
import gzip
import os

import numpy as np
import pytest

from hlmm.errors import InputError
from hlmm.io.loco import loco_row, read_loco, read_pred_list

# REGENIE's own bytes for three individuals ("a_1", "b_x_2", "c_3"), rows 1-23, the
# second individual left out of the phenotype (NA)
HEADER = "FID_IID a_1 b_x_2 c_3 \n"


def _regenie_rows(vals):
    return "".join(f"{c} {vals[c - 1][0]:g} NA {vals[c - 1][2]:g} \n" for c in range(1, 24))


def test_reads_a_file_as_regenie_writes_it(tmp_path):
    vals = np.round(np.arange(69).reshape(23, 3) * 0.013 - 0.4, 6)
    p = tmp_path / "x_1.loco"
    p.write_text(HEADER + _regenie_rows(vals))
    loco = read_loco(str(p))
    assert loco.ids == ["a_1", "b_x_2", "c_3"]
    assert sorted(loco.rows) == list(range(1, 24))
    for c in range(1, 24):
        v = loco.values(c)
        assert v[0] == pytest.approx(vals[c - 1][0], abs=5e-7)
        assert np.isnan(v[1])
        assert v[2] == pytest.approx(vals[c - 1][2], abs=5e-7)
    # matched by the whole FID_IID key (b_x_2 cannot be split unambiguously)
    assert loco.column_of(["c_3", "b_x_2", "zz_9", "a_1"]).tolist() == [2, 1, -1, 0]


def test_gzip_file_and_pred_list(tmp_path):
    p = tmp_path / "run_1.loco.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(HEADER + "1 0.5 NA -1 \n23 2 NA 3 \n")
    (tmp_path / "run_pred.list").write_text("Y1 run_1.loco.gz\n\n")
    listed = read_pred_list(str(tmp_path / "run_pred.list"))
    # a relative path that does not exist from here is taken relative to the list
    assert listed == {"Y1": os.path.join(str(tmp_path), "run_1.loco.gz")}
    loco = read_loco(listed["Y1"])
    assert loco.values(23).tolist()[0] == 2.0
    with pytest.raises(InputError, match="no row for chromosome 2 "):
        loco.values(2)


def test_chromosome_rows_as_regenie_maps_them():
    assert [loco_row(c) for c in ("1", "chr7", "22", "X", "chrX", "23", "XY", "Y", "25",
                                  "PAR1")] == [1, 7, 22, 23, 23, 23, 23, 23, 23, 23]
    assert loco_row("MT") is None and loco_row("0") is None and loco_row("26") is None


@pytest.mark.parametrize("text, needle", [
    ("IID a_1 b_2\n1 0 0\n", "line 1: the header must start with FID_IID"),
    ("FID_IID a_1 b_2\n1 0\n", "line 2: 2 fields, the header has 3"),
    ("FID_IID a_1 b_2\n1 0 0 0\n", "line 2: 4 fields"),
    ("FID_IID a_1 b_2\n1 0 x\n", "line 2: 'x' is neither a number nor NA"),
    ("FID_IID a_1 b_2\n1 0 inf\n", "line 2: 'inf' is not a finite number"),
    ("FID_IID a_1 b_2\n1 0 0\n1 0 0\n", "line 3: chromosome 1 appears twice"),
    ("FID_IID a_1 b_2\nMT 0 0\n", "line 2: 'MT' is not a chromosome number"),
    ("FID_IID a_1 a_1\n1 0 0\n", "line 1: individual a_1 appears twice"),
    ("FID_IID a_1\n", "no chromosome row"),
    ("", "empty file"),
])
def test_bad_loco_files(tmp_path, text, needle):
    p = tmp_path / "bad.loco"
    p.write_text(text)
    with pytest.raises(InputError, match=needle) as exc:
        read_loco(str(p))
    assert "bad.loco" in str(exc.value) and "\n" not in str(exc.value)


def test_bad_pred_lists(tmp_path):
    p = tmp_path / "p.list"
    p.write_text("Y1 a.loco extra\n")
    with pytest.raises(InputError, match="line 1: expected 'NAME PATH'"):
        read_pred_list(str(p))
    p.write_text("Y1 a.loco\nY1 b.loco\n")
    with pytest.raises(InputError, match="line 2: phenotype 'Y1' listed twice"):
        read_pred_list(str(p))
    p.write_text("\n")
    with pytest.raises(InputError, match="no 'NAME PATH' line"):
        read_pred_list(str(p))
