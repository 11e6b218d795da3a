"""The tutorial's simulators: genotypes like plink --simulate, the Gamma phenotype."""
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from hlmm.cli.main import main
from hlmm import HLM
from hlmm.sim import genotypes as gensim

bed_reader = pytest.importorskip("bed_reader")


@pytest.fixture(scope="module")
def genotypes(tmp_path_factory):
    d = tmp_path_factory.mktemp("geno")
    sim = gensim.simulate_genotypes(d / "test", 6000, 60, 0.05, 0.95, seed=7, block_snps=16)
    return d, sim


def _dosages(prefix):
    with bed_reader.open_bed(str(prefix) + ".bed", count_A1=True) as b:
        return b.read(dtype="int8"), b


# ------------------------------------------------------------------ genotypes

def test_genotype_files(genotypes):
    d, sim = genotypes
    with bed_reader.open_bed(d / "test.bed") as b:
        assert b.shape == (6000, 60)
        assert list(b.fid[:3]) == ["per0", "per1", "per2"]
        assert list(b.iid[:3]) == ["per0", "per1", "per2"]
        assert list(b.sid[:2]) == ["null_0", "null_1"]
        assert list(b.bp_position[:3]) == [1, 2, 3]
        assert set(b.chromosome) == {"1"}
        g = b.read(dtype="int8")
    assert set(np.unique(g)) <= {0, 1, 2}  # no missing calls
    lines = (d / "test.bim").read_text().splitlines()
    assert lines[0].split("\t")[:4] == ["1", "null_0", "0", "1"]
    assert (d / "test.fam").read_text().splitlines()[0] == "per0 per0 0 0 2 1"
    # A1 is the minor allele, like plink --make-bed: A1 dosage frequency ≤ 1/2
    assert np.all(g.mean(axis=0) / 2 <= 0.5)
    # A1 = D exactly where D is the minor allele
    a1 = np.array([ln.split("\t")[4] for ln in lines])
    assert list(a1) == sim.a1
    np.testing.assert_allclose(np.where(a1 == "D", g.mean(0) / 2, 1 - g.mean(0) / 2),
                               sim.realised)


def test_genotype_frequencies_within_sampling_error(genotypes):
    d, sim = genotypes
    p = sim.frequencies
    assert np.all((p >= 0.05) & (p <= 0.95))
    assert stats.kstest((p - 0.05) / 0.9, "uniform").pvalue > 1e-3
    # each SNP's sample frequency is Binomial(2n, p)/2n
    z = (sim.realised - p) / np.sqrt(p * (1 - p) / (2 * 6000))
    assert np.max(np.abs(z)) < 4.5
    assert stats.chi2.sf(np.sum(z ** 2), z.size) > 1e-4


def test_genotypes_in_hardy_weinberg(genotypes):
    d, sim = genotypes
    g, _ = _dosages(d / "test")
    n = g.shape[0]
    counts = np.stack([(g == k).sum(axis=0) for k in range(3)])  # 3 × m
    q = (counts[1] + 2 * counts[2]) / (2 * n)
    expected = n * np.stack([(1 - q) ** 2, 2 * q * (1 - q), q ** 2])
    hwe = ((counts - expected) ** 2 / expected).sum(axis=0)  # χ²₁ per SNP under HWE
    assert stats.chi2.sf(hwe.max(), 1) * hwe.size > 1e-3
    assert stats.chi2.sf(hwe.sum(), hwe.size) > 1e-4
    # and the genotype proportions are those of the drawn frequency
    pa1 = np.where(np.array(sim.a1) == "D", sim.frequencies, 1 - sim.frequencies)
    het = counts[1] / n
    z = (het - 2 * pa1 * (1 - pa1)) / np.sqrt(2 * pa1 * (1 - pa1) * (1 - 2 * pa1 * (1 - pa1)) / n)
    assert np.max(np.abs(z)) < 4.5


def test_genotypes_deterministic_and_block_independent(tmp_path):
    gensim.simulate_genotypes(tmp_path / "a", 503, 21, seed=3, block_snps=4)
    gensim.simulate_genotypes(tmp_path / "b", 503, 21, seed=3, block_snps=1000)
    gensim.simulate_genotypes(tmp_path / "c", 503, 21, seed=4)
    for ext in ("bed", "bim", "fam"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()
    assert (tmp_path / "a.bed").read_bytes() != (tmp_path / "c.bed").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{x}.{e}" for x in "abc" for e in ("bed", "bim", "fam")]  # no temporary files left


def test_genotype_frequency_range(tmp_path):
    sim = gensim.simulate_genotypes(tmp_path / "r", 2000, 30, 0.2, 0.3, seed=1)
    assert np.all((sim.frequencies >= 0.2) & (sim.frequencies <= 0.3))
    g, _ = _dosages(tmp_path / "r")
    assert np.all((g.mean(0) / 2 > 0.15) & (g.mean(0) / 2 < 0.35))


def test_cli_genotypes(tmp_path):
    out = tmp_path / "g"
    res = CliRunner().invoke(main, ["simulate", "genotypes", str(out), "--n", "300",
                                    "--snps", "12", "--maf-min", "0.1", "--maf-max", "0.4",
                                    "--seed", "5"])
    assert res.exit_code == 0, res.output
    ref = gensim.simulate_genotypes(tmp_path / "h", 300, 12, 0.1, 0.4, seed=5)
    assert (tmp_path / "g.bed").read_bytes() == (tmp_path / "h.bed").read_bytes()
    assert ref.frequencies.min() >= 0.1


@pytest.mark.parametrize("args, hint", [
    (["--maf-min", "0.6", "--maf-max", "0.4"], "--maf-min"),
    (["--n", "0"], "--n"),
    (["--snps", "-1"], "--snps"),
])
def test_cli_genotypes_bad_options(tmp_path, args, hint):
    res = CliRunner().invoke(main, ["simulate", "genotypes", str(tmp_path / "g"), *args])
    assert res.exit_code != 0 and hint in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_cli_genotypes_missing_directory(tmp_path):
    res = CliRunner().invoke(main, ["simulate", "genotypes", str(tmp_path / "no" / "g")])
    assert res.exit_code != 0 and "does not exist" in res.output


# ------------------------------------------------------------------ phenotype

@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """n = 100000 individuals, 8 + 8 SNPs: enough to see a dispersion effect of 0.05."""
    d = tmp_path_factory.mktemp("pheno")
    gensim.simulate_genotypes(d / "test", 100_000, 8, seed=11)
    gensim.simulate_genotypes(d / "random", 100_000, 8, seed=12)
    return d


def test_phenotype_inverse_normal_marginal(big):
    sim = gensim.simulate_phenotype([big / "test.bed", big / "random.bed"], seed=1)
    n = sim.y.shape[0]
    # exactly Φ⁻¹(rank/(n+1)) of the Gamma draws
    ranks = stats.rankdata(sim.y_raw, method="max")
    np.testing.assert_allclose(sim.y, stats.norm.ppf(ranks / (n + 1)), rtol=0, atol=1e-12)
    assert np.all(np.diff(sim.y[np.argsort(sim.y_raw)]) >= 0)
    assert abs(sim.y.mean()) < 1e-3 and 0.99 < sim.y.std() < 1.0
    assert stats.kstest(sim.y, "norm").pvalue > 0.5
    # the Gamma draws are right skewed, as the model says
    assert stats.skew(sim.y_raw) > 0.2
    # E[y_raw] = gamma_mean + add
    assert sim.y_raw.mean() == pytest.approx(sim.gamma_mean + sim.add.mean(), abs=0.05)


def test_phenotype_h2_and_effects(big):
    sim = gensim.simulate_phenotype([big / "test.bed", big / "random.bed"], h2=0.1, seed=2)
    assert sim.effects.shape == (15,)
    assert sim.add.std(ddof=1) == pytest.approx(1.0, abs=0.05)
    assert sim.s == pytest.approx(0.9 / (sim.gamma_mean * 0.1))
    # regress y on the true additive component: R² ≈ h2
    r2_raw = np.corrcoef(sim.y_raw, sim.add)[0, 1] ** 2
    r2 = np.corrcoef(sim.y, sim.add)[0, 1] ** 2
    assert 0.085 < r2_raw < 0.115
    assert 0.08 < r2 < 0.14
    sim3 = gensim.simulate_phenotype([big / "test.bed", big / "random.bed"], h2=0.3, seed=2)
    assert 0.26 < np.corrcoef(sim3.y_raw, sim3.add)[0, 1] ** 2 < 0.34


def _log_variance_effect(sim):
    """HLM fit of the raw phenotype with the true mean and the Gamma variance model:
    log Var[y_i] = β0 + β1·g̃_i + β2·log(gamma_mean + add_i); returns β1 and its SE."""
    gc = sim.g - sim.g.mean()
    mu = sim.gamma_mean + sim.add
    X = np.column_stack([np.ones_like(mu), sim.add])
    V = np.column_stack([np.ones_like(mu), gc, np.log(mu)])
    fit = HLM(sim.y_raw, X, V).fit()
    return fit.beta[1], fit.bse[X.shape[1] + 1]


def test_phenotype_dispersion_effect_detectable(big):
    beds = [big / "test.bed", big / "random.bed"]
    sim = gensim.simulate_phenotype(beds, dispersion=0.05, seed=3)
    b, se = _log_variance_effect(sim)
    assert b == pytest.approx(0.05, abs=4 * se)
    assert b / se > 3  # expected t ≈ 0.05 / 0.0085 ≈ 6
    null = gensim.simulate_phenotype(beds, dispersion=0.0, seed=3)
    b0, se0 = _log_variance_effect(null)
    assert abs(b0 / se0) < 4
    # the first SNP of TEST.bed is the one: its A1 dosage
    g, _ = _dosages(big / "test")
    np.testing.assert_array_equal(sim.g, g[:, 0])


def test_phenotype_deterministic(tmp_path):
    gensim.simulate_genotypes(tmp_path / "test", 3000, 7, seed=1)
    gensim.simulate_genotypes(tmp_path / "random", 3000, 5, seed=2)
    beds = [tmp_path / "test.bed", tmp_path / "random.bed"]
    a = gensim.simulate_phenotype(beds, seed=9, block_snps=3)
    b = gensim.simulate_phenotype(beds, seed=9)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.y, gensim.simulate_phenotype(beds, seed=10).y)


def test_cli_phenotype(tmp_path):
    gensim.simulate_genotypes(tmp_path / "test", 500, 5, seed=1)
    gensim.simulate_genotypes(tmp_path / "random", 500, 5, seed=2)
    out = tmp_path / "test_phenotype.fam"
    res = CliRunner().invoke(main, ["simulate", "phenotype", str(tmp_path / "test.bed"),
                                    str(tmp_path / "random.bed"), str(out), "--h2", "0.1",
                                    "--dispersion", "0.05", "--seed", "4"])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert len(lines) == 500
    fields = [ln.split(" ") for ln in lines]
    assert fields[0][:2] == ["per0", "per0"] and all(len(f) == 3 for f in fields)
    y = np.array([float(f[2]) for f in fields])
    sim = gensim.simulate_phenotype([tmp_path / "test.bed", tmp_path / "random.bed"],
                                    h2=0.1, dispersion=0.05, seed=4)
    np.testing.assert_allclose(y, sim.y, rtol=1e-14)


def test_cli_phenotype_bad_inputs(tmp_path):
    gensim.simulate_genotypes(tmp_path / "test", 50, 3, seed=1)
    gensim.simulate_genotypes(tmp_path / "other", 60, 3, seed=2)
    (tmp_path / "junk.bed").write_bytes(b"not a bed file")
    run = lambda *a: CliRunner().invoke(main, ["simulate", "phenotype", *map(str, a)])  # noqa
    before = set(tmp_path.iterdir())
    res = run(tmp_path / "test.bed", tmp_path / "other.bed", tmp_path / "y.fam")
    assert res.exit_code != 0 and "other.bed" in res.output and "Traceback" not in res.output
    res = run(tmp_path / "junk.bed", tmp_path / "test.bed", tmp_path / "y.fam")
    assert res.exit_code != 0 and "junk.bed" in res.output and "Traceback" not in res.output
    res = run(tmp_path / "test.bed", tmp_path / "test.bed", tmp_path / "y.fam", "--h2", "1.5")
    assert res.exit_code != 0 and "--h2" in res.output
    res = run(tmp_path / "nope.bed", tmp_path / "test.bed", tmp_path / "y.fam")
    assert res.exit_code != 0 and "nope.bed" in res.output
    assert set(tmp_path.iterdir()) == before  # nothing written
