/* Genotype-class power sums of y over raw PLINK .bed rows (the HLM scan's inner loop).
 *
 * Used by _bed.pyx (class_stats_tabled, class_moments_tabled); see their docstrings for
 * the tables.  For .bed byte b and a 4-bit subset S of its four samples,
 * T[(16 b + S) P + j] = sum over i in S of y_i^(j+1) (analysis individuals only: the
 * others have y = 0), j = 0 .. P-1.
 *
 * A row is walked 8 bytes (32 samples) at a time.  With lo/hi the low/high bits of the
 * 2-bit codes (at the even bit positions), the samples of code c are
 *     m_c = (lo ^ xl_c) & (hi ^ xh_c) & 0x55..55
 * (xl_c, xh_c = 0 or ~0), and folding the four even bits of every byte into a nibble
 * gives the byte's subset index: m | m >> 3 folds them with two operations per word but
 * in the lane order 0, 2, 1, 3, so each chunk's tables are first copied in that order
 * (16 KB or 32 KB, in L1 cache, amortised over the SNPs of the call); calls of fewer
 * than BS_PERM_MIN SNPs fold in the tables' own order instead.  Per byte and looked-up
 * code: one (y, y^2) pair load and one 2-wide add, instead of the masked byte lookups,
 * scalar loads and popcount lookups of a byte-at-a-time loop.
 *
 * Fewer lookups: within a chunk of bytes whose analysis samples have no missing call,
 * the sums of the most frequent class of the chunk are the chunk's total (precomputed)
 * minus those of the two others, so only two codes are looked up.  The derived class
 * has at least a third of the chunk's samples, so the subtraction loses no more than a
 * direct sum would; chunks with a missing call or fewer than DERIVE_MIN samples in
 * their largest class look up all three classes (a class of fewer than DERIVE_MIN
 * samples, e.g. a single carrier, thus always gets exactly the sum of its y's, and the
 * degenerate-variance test of the fit sees an exact zero).
 *
 * Chunks whose analysis samples are all missing are skipped.
 *
 * Counts come from 64-bit popcounts.  The popcount instruction is not in the x86-64
 * baseline, so on x86 the kernel is compiled twice and picked at run time.
 */
#ifndef HLMM_BEDSUMS_H
#define HLMM_BEDSUMS_H

#include <stdint.h>
#include <string.h>

typedef double hv2d __attribute__((vector_size(16)));

#define BS_K55 0x5555555555555555ULL
#define BS_K33 0x3333333333333333ULL
#define BS_K0F 0x0f0f0f0f0f0f0f0fULL
#define BS_DERIVE_MIN 8
#define BS_AHEAD 4
#ifndef BS_PERM_MIN
#define BS_PERM_MIN 16
#endif

static inline uint64_t bs_load_word(const unsigned char* p, int nbytes)
{
    uint64_t w = 0;
    if (nbytes == 8) {
        memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        return w;
    }
    for (int j = 0; j < nbytes; j++)
        w |= (uint64_t)p[j] << (8 * j);
    return w;
}

static inline hv2d bs_ld(const double* p)
{
    hv2d v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Byte offsets into a chunk's permuted tables (below): for every byte of the word, the
 * samples of mask m (one bit per sample, at the even positions 0, 2, 4, 6) as the
 * 4-bit index  bit0 = sample 0, bit1 = sample 2, bit2 = sample 1, bit3 = sample 3
 * (m | m >> 3 needs no carry across bytes), times 16 bytes: one entry of two doubles. */
static inline uint64_t bs_offsets(uint64_t m)
{
    return ((m | (m >> 3)) << 4) & 0xf0f0f0f0f0f0f0f0ULL;
}

/* The same in the tables' own order (bit i = sample i): two more operations per word,
 * no permuted copy (for small blocks, where the copy would not be amortised). */
static inline uint64_t bs_offsets_std(uint64_t m)
{
    m = (m | (m >> 1)) & BS_K33;
    return ((m | (m >> 2)) & BS_K0F) << 4;
}

/* The position in the permuted index of subset S (bit i = sample i). */
static inline int bs_perm(int S)
{
    return (S & 1) | ((S & 4) >> 1) | ((S & 2) << 1) | (S & 8);
}

/* Sums over the bytes [b0, b1) of one row for NC looked-up codes (xor masks xl, xh) and
 * P powers: sums[c P + j].  Tb: with PERM, the chunk's tables permuted and laid out as
 * Tb[((b - b0) 16 + perm(S)) P / 2] pairs; else the tables T themselves.  Four accumulators per pair of powers (one
 * per byte j & 3) keep four independent add chains; every index is a constant once the
 * byte loop is unrolled, so the accumulators stay in registers. */
#define BS_WORD_BODY(NB)                                                              \
    {                                                                                 \
        uint64_t w = bs_load_word(row + b, NB);                                       \
        uint64_t lo = w & BS_K55, hi = (w >> 1) & BS_K55;                             \
        const char* tb = (const char*)(Tb + 16 * P * (PERM ? b - b0 : b));            \
        for (int c = 0; c < NC; c++) {                                                \
            uint64_t mc = (lo ^ xl[c]) & (hi ^ xh[c]) & BS_K55;                        \
            uint64_t off = PERM ? bs_offsets(mc) : bs_offsets_std(mc);                 \
            for (int j = 0; j < NB; j++) {                                            \
                const double* t = (const double*)(tb + 128 * P * j                    \
                                                  + (P / 2) * ((off >> (8 * j)) & 255)); \
                acc[c][j & 3][0] += bs_ld(t);                                         \
                if (P == 4)                                                           \
                    acc[c][j & 3][P / 2 - 1] += bs_ld(t + 2);                         \
            }                                                                         \
        }                                                                             \
    }

static inline __attribute__((always_inline)) void
bs_lookup(const unsigned char* row, Py_ssize_t b0, Py_ssize_t b1, const double* Tb,
          const int P, const int NC, const int PERM, const uint64_t* xl, const uint64_t* xh,
          double* sums)
{
    hv2d acc[NC][4][P / 2];
    for (int c = 0; c < NC; c++)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < P / 2; h++)
                acc[c][j][h] = (hv2d){0.0, 0.0};
    Py_ssize_t b = b0;
    for (; b + 8 <= b1; b += 8)
        BS_WORD_BODY(8)
    if (b < b1) {
        int nb = (int)(b1 - b);
        BS_WORD_BODY(nb)
    }
    for (int c = 0; c < NC; c++)
        for (int h = 0; h < P / 2; h++) {
            hv2d s = (acc[c][0][h] + acc[c][1][h]) + (acc[c][2][h] + acc[c][3][h]);
            sums[c * P + 2 * h] = s[0];
            sums[c * P + 2 * h + 1] = s[1];
        }
}

/* The kernel.  packed: n_snps rows of `stride` bytes (bps used); T: tables (P powers);
 * memw: per 8 bytes, the even-bit mask of the analysis samples (the last word padded
 * with 0); chunk_n / chunk_tot: per chunk of `chunk` bytes, its number of analysis
 * samples and the sums of y^1..y^P over them; out: n_snps x 3(P+1), zeroed here,
 * out[s, (P+1)k + j] = sum over class k of y^j (j = 0: the count).
 * code_class: the class of codes 00, 01, 10, 11 (-1: missing). */
#define BS_KERNEL_BODY                                                                   \
    Py_ssize_t s, b0, b1, ci, b;                                                         \
    const int W = P + 1;                                                                 \
    /* the permuted copy of a chunk's tables pays off over many SNPs */                  \
    const int perm = n_snps >= BS_PERM_MIN;                                              \
    for (s = 0; s < n_snps * 3 * W; s++)                                                 \
        out[s] = 0.0;                                                                    \
    for (ci = 0, b0 = 0; b0 < bps; b0 += chunk, ci++) {                                  \
        b1 = b0 + chunk < bps ? b0 + chunk : bps;                                        \
        if (chunk_n[ci] == 0)                                                            \
            continue;                                                                    \
        for (b = b0; perm && b < b1; b++)                                                \
            for (int S = 0; S < 16; S++)                                                 \
                for (int j = 0; j < P; j++)                                              \
                    Tc[((b - b0) * 16 + bs_perm(S)) * P + j] = T[(b * 16 + S) * P + j];  \
        for (s = 0; s < n_snps; s++) {                                                   \
            const unsigned char* row = packed + s * stride;                              \
            /* rows are far apart: fetch the chunk of a later SNP's row ahead */          \
            if (s + BS_AHEAD < n_snps) {                                                 \
                __builtin_prefetch(row + BS_AHEAD * stride + b0);                        \
                __builtin_prefetch(row + BS_AHEAD * stride + b1 - 1);                    \
            }                                                                            \
            double* o = out + s * 3 * W;                                                 \
            int64_t cnt[4] = {0, 0, 0, 0};                                               \
            for (b = b0; b < b1; b += 8) {                                               \
                int nb = b1 - b >= 8 ? 8 : (int)(b1 - b);                                \
                uint64_t w = bs_load_word(row + b, nb), mw = memw[b >> 3];               \
                uint64_t lo = w & mw, hi = (w >> 1) & mw;                                \
                cnt[1] += __builtin_popcountll(lo & ~hi);                                \
                cnt[2] += __builtin_popcountll(hi & ~lo);                                \
                cnt[3] += __builtin_popcountll(hi & lo);                                 \
            }                                                                            \
            cnt[0] = chunk_n[ci] - cnt[1] - cnt[2] - cnt[3];                             \
            if (cnt[1] == chunk_n[ci])  /* every call missing (e.g. a dosage row left    \
                                           unpacked by _dosage.pack_rows) */             \
                continue;                                                                \
            /* codes looked up; `derive` the code of the chunk's largest class or -1 */  \
            int codes[3] = {0, 2, 3}, derive = -1, nc = 3;                               \
            if (cnt[1] == 0) {                                                           \
                int big = cnt[0] >= cnt[2] ? (cnt[0] >= cnt[3] ? 0 : 3)                  \
                                           : (cnt[2] >= cnt[3] ? 2 : 3);                 \
                if (cnt[big] >= BS_DERIVE_MIN) {                                         \
                    derive = big;                                                        \
                    nc = 0;                                                              \
                    for (int c = 0; c < 4; c++)                                          \
                        if (c != 1 && c != big)                                          \
                            codes[nc++] = c;                                             \
                }                                                                        \
            }                                                                            \
            uint64_t xl[3], xh[3];                                                       \
            double sums[3 * 4];                                                          \
            for (int c = 0; c < nc; c++) {                                               \
                xl[c] = (codes[c] & 1) ? 0 : ~0ULL;                                      \
                xh[c] = (codes[c] & 2) ? 0 : ~0ULL;                                      \
            }                                                                            \
            if (perm && nc == 2)                                                         \
                bs_lookup(row, b0, b1, Tc, P, 2, 1, xl, xh, sums);                        \
            else if (perm)                                                               \
                bs_lookup(row, b0, b1, Tc, P, 3, 1, xl, xh, sums);                        \
            else if (nc == 2)                                                            \
                bs_lookup(row, b0, b1, T, P, 2, 0, xl, xh, sums);                         \
            else                                                                         \
                bs_lookup(row, b0, b1, T, P, 3, 0, xl, xh, sums);                         \
            for (int c = 0; c < nc; c++) {                                               \
                double* ok = o + W * code_class[codes[c]];                               \
                ok[0] += (double)cnt[codes[c]];                                          \
                for (int j = 0; j < P; j++)                                              \
                    ok[1 + j] += sums[c * P + j];                                        \
            }                                                                            \
            if (derive >= 0) {                                                           \
                double* ok = o + W * code_class[derive];                                 \
                ok[0] += (double)cnt[derive];                                            \
                for (int j = 0; j < P; j++) {                                            \
                    double d = chunk_tot[ci * P + j];                                    \
                    for (int c = 0; c < nc; c++)                                         \
                        d -= sums[c * P + j];                                            \
                    ok[1 + j] += d;                                                      \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }

#define BS_KERNEL_ARGS                                                                   \
    const unsigned char* packed, Py_ssize_t n_snps, Py_ssize_t bps, Py_ssize_t stride,  \
        const double* T, const uint64_t* memw, const int64_t* chunk_n,                   \
        const double* chunk_tot, Py_ssize_t chunk, const int* code_class, double* out, double* Tc

#define BS_DEFINE(NAME, ATTR, NPOW)                                                      \
    static ATTR void NAME(BS_KERNEL_ARGS) { const int P = NPOW; BS_KERNEL_BODY }

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
BS_DEFINE(bs_sums2_popcnt, __attribute__((target("popcnt"))), 2)
BS_DEFINE(bs_sums4_popcnt, __attribute__((target("popcnt"))), 4)
BS_DEFINE(bs_sums2_base, , 2)
BS_DEFINE(bs_sums4_base, , 4)
static int bs_have_popcnt(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("popcnt");
}
#else
BS_DEFINE(bs_sums2_base, , 2)
BS_DEFINE(bs_sums4_base, , 4)
#define bs_sums2_popcnt bs_sums2_base
#define bs_sums4_popcnt bs_sums4_base
static int bs_have_popcnt(void) { return 0; }
#endif

/* class sums with P = 2 (n, y, y^2) or P = 4 (n, y .. y^4) */
static void bs_class_sums(int P, BS_KERNEL_ARGS)
{
    static int have = -1;
    if (have < 0)
        have = bs_have_popcnt();
    if (P == 2)
        (have ? bs_sums2_popcnt : bs_sums2_base)(packed, n_snps, bps, stride, T, memw,
                                                 chunk_n, chunk_tot, chunk, code_class, out, Tc);
    else
        (have ? bs_sums4_popcnt : bs_sums4_base)(packed, n_snps, bps, stride, T, memw,
                                                 chunk_n, chunk_tot, chunk, code_class, out, Tc);
}

#endif
