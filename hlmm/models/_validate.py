"""Input checks shared by the models: one clear ValueError naming the argument."""
import numpy as np


def _as_float(a, name):
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None


def as_vector(y, name="y"):
    y = _as_float(y, name)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(y)


def all_finite(A):
    """Whether A has no NaN or ±inf, from its min and max (NaN propagates through both):
    no n×k boolean temporary, which for a random-effects G is an eighth of its size."""
    return A.size == 0 or bool(np.isfinite(A.min()) and np.isfinite(A.max()))


def as_design(A, n, name, check_rank=True):
    """A 2-D C-contiguous float64 copy of a design matrix with n rows (1-D = one column)."""
    A = _as_float(A, name)
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 1- or 2-dimensional, got {A.ndim} dimensions")
    if A.shape[0] != n:
        raise ValueError(f"{name} has {A.shape[0]} rows but y has {n} observations")
    if A.shape[1] == 0:
        raise ValueError(f"{name} has no columns")
    if not all_finite(A):
        raise ValueError(f"{name} contains NaN or infinite values")
    if check_rank and not full_column_rank(A):
        raise ValueError(f"{name} is rank deficient: its columns are linearly dependent")
    return np.ascontiguousarray(A)


def full_column_rank(A):
    """Whether the singular values of A with unit-norm columns satisfy
    ``s_min > 10·max(n, k)·ε·s_max``.

    Columns are scaled first so that a covariate in large units does not look
    collinear.  The eigenvalues of the scaled Gram ``AᵀA`` are the ``s²`` up to an
    absolute error of ~k·ε, so a Gram with ``λ_min > 1e-8·λ_max`` settles the question
    in one O(n·k²) BLAS product; only nearly collinear designs pay for the SVD.
    """
    if not np.all(np.any(A != 0, axis=0)):
        return False
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        gram = A.T @ A
        d = np.diag(gram).copy()
        if np.all(np.isfinite(gram)) and np.all(d > 0):
            s = 1.0 / np.sqrt(d)
            lam = np.linalg.eigvalsh(gram * s[:, None] * s[None, :])
            if lam[0] > 1e-8 * lam[-1]:
                return True
    B = A / np.abs(A).max(axis=0)  # first by the max so that the norms cannot overflow
    B /= np.sqrt(np.einsum("ij,ij->j", B, B))
    s = np.linalg.svd(B, compute_uv=False)
    return s[-1] > s[0] * max(A.shape) * np.finfo(float).eps * 10


def check_sample_size(n, n_params):
    if n <= n_params:
        raise ValueError(
            f"y has {n} observations, too few for {n_params} mean and variance parameters"
        )
