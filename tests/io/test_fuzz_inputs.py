"""Fuzzing the readers (issue 22): small valid .bed/.bim/.fam, .pgen/.pvar/.psam, BGEN
(+ .sample) and phenotype files, damaged by hypothesis (truncated, bytes flipped, long
tokens, control characters, non-ASCII digits and odd numbers inserted), must either
read as arrays of the right shape or fail with an InputError — never another exception
or a crash.  Bounded to about 30 s in all (``HLMM_FUZZ_EXAMPLES`` examples per file kind,
default 150)."""
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hlmm.errors import InputError
from hostile_files import make_inputs

EXAMPLES = int(os.environ.get("HLMM_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

INSERTS = [b"\t", b"\n", b"\r", b"\x00", b"\x01", b"\x0b", b"\x0c", b"\x1f", b"\x7f", b" ",
           "é".encode(), "١٥".encode(), b"\xff\xfe", b"1e30", b"-5", b"1_5", b"nan", b"inf",
           b"9007199254740993", b"A" * 5000, b"9" * 400, b"#", b"##", b"\n\n\n", b"0x10"]

# one mutation: ("cut", where), ("flip", where, byte), ("insert", where, text); where is
# a fraction of the file's length
MUTATION = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(INSERTS)),
)
MUTATIONS = st.lists(MUTATION, min_size=1, max_size=3)


@pytest.fixture(scope="module")
def valid():
    d = tempfile.mkdtemp(prefix="hlmm-fuzz-")
    paths = make_inputs(d)
    yield d, paths
    shutil.rmtree(d, ignore_errors=True)


def damaged(valid, target, mutations):
    """A copy of the valid inputs with ``target`` (a file name in them) mutated."""
    src, paths = valid
    d = tempfile.mkdtemp(prefix="hlmm-fuzz-case-")
    for name in os.listdir(src):
        shutil.copy(os.path.join(src, name), d)
    path = os.path.join(d, target)
    data = bytearray(open(path, "rb").read())
    for m in mutations:
        at = min(int(m[1] * len(data)), len(data))
        if m[0] == "cut":
            del data[at:]
        elif m[0] == "flip" and data:
            data[min(at, len(data) - 1)] = m[2]
        elif m[0] == "insert":
            data[at:at] = m[2]
    with open(path, "wb") as fh:
        fh.write(bytes(data))
    return d, {k: os.path.join(d, os.path.basename(v)) for k, v in paths.items()}


def read_all(source):
    """Every dosage of a genotype source, with the shape checked."""
    n, m = source.n_samples, source.n_snps
    assert len(source.iid) == n and len(source.fid) == n and len(source.ids) == n
    for arr in (source.sid, source.chromosome, source.bp_position, *source.counted_alleles()):
        assert len(arr) == m
    assert np.all(np.asarray(source.bp_position) >= 0)
    g = source.read_dosages(0, m, np.arange(n))
    assert g.shape == (n, m)
    finite = g[np.isfinite(g)]
    assert np.all((finite >= 0) & (finite <= 2))
    source.unusable(0, m)
    if hasattr(source, "read_packed"):
        assert source.read_packed(0, m).shape == (m, source.bytes_per_snp)


def outcome(fn):
    """Run ``fn``: success or an InputError of one line; anything else fails the test."""
    try:
        fn()
    except InputError as exc:
        msg = str(exc)
        assert msg and "Traceback" not in msg
        return "error"
    return "ok"


def check_genotypes(valid, target, fmt, mutations, sample=False):
    from hlmm.io import open_genotypes

    d, p = damaged(valid, target, mutations)
    try:
        outcome(lambda: read_all(open_genotypes(
            p[fmt], sample_file=p["sample"] if sample else None)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("target", ["geno.bed", "geno.bim", "geno.fam"])
@FUZZ
@given(mutations=MUTATIONS)
def test_fuzz_bed(valid, target, mutations):
    check_genotypes(valid, target, "bed", mutations)


@pytest.mark.parametrize("target", ["pg.pgen", "pg.pvar", "pg.psam"])
@FUZZ
@given(mutations=MUTATIONS)
def test_fuzz_pgen(valid, target, mutations):
    check_genotypes(valid, target, "pgen", mutations)


@pytest.mark.parametrize("target, sample", [("bg.bgen", False), ("bg_ids.sample", True)])
@FUZZ
@given(mutations=MUTATIONS)
def test_fuzz_bgen(valid, target, sample, mutations):
    check_genotypes(valid, target, "bgen", mutations, sample)


@pytest.mark.parametrize("target", ["pheno.txt", "covar.txt"])
@FUZZ
@given(mutations=MUTATIONS)
def test_fuzz_tables(valid, target, mutations):
    from hlmm.io.tables import read_table

    d, p = damaged(valid, target, mutations)

    def read():
        t = read_table(os.path.join(d, target))
        assert t.values.shape == (len(t.ids), len(t.names))
        assert len(t.line_numbers) == len(t.ids)
        assert np.all(np.isfinite(t.values) | np.isnan(t.values))
        t.row_index()

    try:
        outcome(read)
    finally:
        shutil.rmtree(d, ignore_errors=True)
