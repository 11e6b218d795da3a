"""BLAS thread pools.

numpy and scipy each load an OpenBLAS with its own thread pool.  Our kernels call
scipy's (``scipy.linalg.cython_blas``); numpy's serves the small l×l and p×p algebra
around them.  When both pools have several threads, each call into one pool finds the
other pool's threads still spinning, and small products become many times slower
(measured: HLMM fits 1.3–3× slower, single SNP fits in a loaded scan 20×).
"""
import contextlib


def numpy_blas_single_threaded():
    """Context manager: numpy's BLAS pool at one thread, scipy's untouched (when they are
    distinct libraries); a no-op when they are the same library or none is found."""
    try:
        import numpy  # noqa: F401
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    ctl = ThreadpoolController()
    blas = [lib for lib in ctl.lib_controllers if lib.user_api == "blas"]
    numpy_libs = [lib for lib in blas if "numpy" in lib.filepath]
    others = [lib for lib in blas if "numpy" not in lib.filepath]
    if not numpy_libs or not others:
        return contextlib.nullcontext()
    return ctl.select(filepath=[lib.filepath for lib in numpy_libs]).limit(limits=1)


def blas_single_threaded(active=True):
    """Every BLAS pool at one thread (when our own threads already fill the cores)."""
    if not active:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def capped_threads(threads):
    """Every native pool (BLAS, OpenMP) at most ``threads`` threads for the block, or a
    no-op for None.  ``--threads`` bounds our own threads, but OpenBLAS starts one thread
    per core on its own: a one-CPU batch job would otherwise run ~1.7 busy threads."""
    if not threads:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads))
