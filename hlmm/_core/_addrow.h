/* dst[0..n) += src[0..n): the sparse rows of the many-phenotype kernel (_multi.pyx).
 * On x86-64 Linux with GCC the function is compiled twice, for AVX2 and for the
 * baseline, and the loader picks one for the machine it runs on (target_clones), so
 * the wheel stays portable; elsewhere it is plain C the compiler vectorises as it can. */
#ifndef HLMM_ADDROW_H
#define HLMM_ADDROW_H
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
static void hlmm_add_row(double *__restrict dst, const double *__restrict src, ptrdiff_t n)
{
    for (ptrdiff_t c = 0; c < n; c++)
        dst[c] += src[c];
}
#endif
