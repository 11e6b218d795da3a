"""hlmm.io.sex: sex from a .fam, a .psam, an Oxford .sample and a --sex file."""
from types import SimpleNamespace

import numpy as np
import pytest

from hlmm.errors import InputError
from hlmm.io.sex import read_sex


def _geno(tmp_path, fmt, fid=("a", "b", "c"), iid=("1", "2", "3"), by_iid=False):
    return SimpleNamespace(format=fmt, path=str(tmp_path / f"g.{fmt}"),
                           psam_path=str(tmp_path / "g.psam"), n_samples=len(iid),
                           fid=np.array(fid), iid=np.array(iid), match_by_iid=by_iid,
                           sample_file=None)


def test_fam_column_5(tmp_path):
    (tmp_path / "g.fam").write_text("a 1 0 0 1 -9\nb 2 0 0 2 -9\nc 3 0 0 0 -9\n")
    assert read_sex(_geno(tmp_path, "bed")).tolist() == [1, 2, 0]


def test_psam_sex_column_and_headerless(tmp_path):
    (tmp_path / "g.psam").write_text("##comment\n#IID\tSEX\tPHENO1\n1\t2\t.\n2\tNA\t.\n3\t1\t.\n")
    assert read_sex(_geno(tmp_path, "pgen")).tolist() == [2, 0, 1]
    (tmp_path / "g.psam").write_text("#FID\tIID\n a\t1\n")
    assert read_sex(_geno(tmp_path, "pgen")) is None            # no SEX column
    (tmp_path / "g.psam").write_text("a 1 0 0 2 -9\nb 2 0 0 1 -9\nc 3 0 0 1 -9\n")
    assert read_sex(_geno(tmp_path, "pgen")).tolist() == [2, 1, 1]


def test_oxford_sample_sex(tmp_path):
    (tmp_path / "g.sample").write_text("ID_1 ID_2 missing sex\n0 0 0 D\na 1 0 male\n"
                                       "b 2 0 2\nc 3 0 NA\n")
    assert read_sex(_geno(tmp_path, "bgen")).tolist() == [1, 2, 0]
    (tmp_path / "g.sample").unlink()
    assert read_sex(_geno(tmp_path, "bgen")) is None


def test_sex_file_wins_and_matches_ids(tmp_path):
    (tmp_path / "g.fam").write_text("a 1 0 0 1 -9\nb 2 0 0 1 -9\nc 3 0 0 1 -9\n")
    f = tmp_path / "sex.txt"
    f.write_text("c 3 2\na 1 1\n")                  # any order; b unlisted: unknown
    assert read_sex(_geno(tmp_path, "bed"), str(f)).tolist() == [1, 0, 2]
    f.write_text("#IID SEX\n3 F\n2 M\n")
    assert read_sex(_geno(tmp_path, "bed"), str(f)).tolist() == [0, 1, 2]
    f.write_text("a 1\n")
    with pytest.raises(InputError, match="--sex .*row 1: expected FID IID SEX"):
        read_sex(_geno(tmp_path, "bed"), str(f))
