/* Genotype-code sums of many columns by lookup tables ("four Russians").
 *
 * For SNP j, individual u (4 to a byte of `codes`, lane u & 3 of byte u >> 2, the .bed
 * 2-bit codes) and a matrix B (n × C), hlmm_code_sums adds to
 *
 *     out[j, slot[k], c] += Σ_{u: code_ju = k} B[u, c]    (k = 0b00, 0b01, 0b10, 0b11).
 *
 * A dense product (a 0/1 row per code with B) costs one multiply-add per individual,
 * column and code.  Here the individuals come in groups of eight (two bytes), and for
 * each group g and tile of 8 columns a table of its 256 subset sums is built once per
 * block of SNPs:
 *
 *     T_g[s] = Σ_{i ∈ s} B[8g + i, tile]      (s ⊆ {0, …, 7}, an 8-bit mask),
 *
 * so that a SNP's sum over code k is Σ_g T_g[mask_k(bytes_jg)]: one add of a table row
 * per group and code, over the groups where the code occurs at all (lists of table
 * rows, compacted without branches, skip the others).  Per group of eight and SNP
 * that is about 2.4 vector adds, against 16 multiply-adds for two dense classes; the
 * tables (255 vector adds per group) are shared by the block's SNPs, so blocks of a
 * few hundred SNPs make them cheap.  One table row is one 8-double vector.
 *
 * Loop order, for the caches: the lists of every chunk of groups are made once and
 * read once per band of tiles (every tile in one band when the accumulators, band × m ×
 * 4 vectors, fit in 8 MB); per chunk, its tables (chunk × 256 vectors, in the core's
 * L2) are built and used tile by tile, a tile's accumulators together so that
 * consecutive lists touch consecutive lines.  B comes tiled (tile, row, 8 columns) so
 * that a table reads contiguous memory.
 *
 * Every sum is a fixed-order sum of table rows (themselves fixed-order sums), so the
 * result depends neither on threads nor on the machine's vector width, and outside
 * the derived columns below a class whose values are all equal sums to an exact
 * multiple (no subtraction).
 *
 * The one exception: for the first `derive` columns (whole tiles) each SNP's sum over
 * its commonest code (the one in most lanes, present in nearly every group) is the
 * column's total minus the other codes' sums, and its table adds (about 1 of the ~2.4
 * per group) are skipped; when every tile is derived, the commonest code's lists are
 * not even made.  For integer columns whose partial sums stay below 2^53 (the
 * bit-field counts of a many-phenotype scan) that is exact.  For other columns it is a
 * difference of whole-sample sums, with rounding ~ eps·Σ_u |B[u, c]|, the order of the
 * direct sum's own: the caller derives only columns whose use does not magnify it.
 *
 * On x86-64 Linux with GCC the function is compiled for AVX-512, AVX2 and the baseline
 * and the loader picks one (target_clones); elsewhere it is plain C with GCC vectors.
 */
#ifndef HLMM_TABLESUMS_H
#define HLMM_TABLESUMS_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define HLMM_TS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HLMM_TS_CLONES
#endif

/* bytes of accumulators for a band of tiles (m × 4 × band vectors): every tile when they
   fit, as the lists are read once per band */
#define HLMM_TS_ACC_BYTES ((size_t)8 << 20)

typedef double hlmm_v8d __attribute__((vector_size(64)));
/* the same at any address (B's tiles may come unaligned, e.g. unpickled on a worker) */
typedef double hlmm_v8d_u __attribute__((vector_size(64), aligned(8)));

/* HLMM_TS_MASK[k][b]: the 4-bit mask of the lanes of byte b that hold code k */
static unsigned char HLMM_TS_MASK[4][256];

static void hlmm_ts_init(void)
{
    for (int b = 0; b < 256; b++)
        for (int k = 0; k < 4; k++) {
            unsigned char m = 0;
            for (int lane = 0; lane < 4; lane++)
                if (((b >> (2 * lane)) & 3) == k)
                    m |= (unsigned char)(1 << lane);
            HLMM_TS_MASK[k][b] = m;
        }
}

/* Lanes of each code (0b00, 0b01, 0b10, 0b11) among the first n of a row of codes. */
/* inlined into each target clone of its caller, for the hardware popcount */
static inline __attribute__((always_inline)) void
hlmm_ts_lanes(const uint8_t *row, ptrdiff_t n, int64_t lanes[4])
{
    const uint64_t lo_bits = 0x5555555555555555ULL;
    ptrdiff_t words = n / 32, u;
    int64_t c1 = 0, c2 = 0, c3 = 0;
    for (ptrdiff_t w = 0; w < words; w++) {
        uint64_t x;
        memcpy(&x, row + 8 * w, 8);
        uint64_t lo = x & lo_bits, hi = (x >> 1) & lo_bits;
        c1 += __builtin_popcountll(lo & ~hi);
        c2 += __builtin_popcountll(hi & ~lo);
        c3 += __builtin_popcountll(lo & hi);
    }
    for (u = 32 * words; u < n; u++) {
        int k = (row[u >> 2] >> (2 * (u & 3))) & 3;
        c1 += k == 1;
        c2 += k == 2;
        c3 += k == 3;
    }
    lanes[0] = n - c1 - c2 - c3;
    lanes[1] = c1;
    lanes[2] = c2;
    lanes[3] = c3;
}

/* codes: m rows of `ld` bytes, of which the first (n + 3) / 4 are read; lanes past n
 * are ignored (ncode, if not NULL: m × 4, the count of each code added at its slot).
 * Bt: the columns of B in tiles of 8, ntiles × npad × 8 (npad ≥ n rows,
 * a multiple of 8; rows past n and columns past C zero).  out: m × 4
 * × C, accumulated into (code k at slot slot[k]).  derive: the leading columns (whole
 * tiles of them) whose commonest code comes from their totals, see above.
 * chunk: groups of eight per chunk
 * (1..256).  Returns 0, or -1 when memory runs out. */
HLMM_TS_CLONES
static int hlmm_code_sums_part(const uint8_t *codes, ptrdiff_t ld, ptrdiff_t m,
                               ptrdiff_t n, const double *Bt, ptrdiff_t npad, ptrdiff_t C,
                               ptrdiff_t derive, double *out, int64_t *ncode,
                               const int *slot, ptrdiff_t chunk, uint16_t *scratch,
                               size_t scratch_len)
{
    ptrdiff_t ngroups = (n + 7) / 8, nbytes = (n + 3) / 4, ntiles = (C + 7) / 8;
    /* tiles whose commonest code comes from their totals */
    ptrdiff_t nderive = derive / 8 < ntiles ? derive / 8 : ntiles;
    if (m <= 0 || n <= 0 || (C <= 0 && ncode == NULL))
        return 0;
    if (chunk > ngroups)
        chunk = ngroups;
    ptrdiff_t nchunks = (ngroups + chunk - 1) / chunk;
    hlmm_v8d *T = (hlmm_v8d *)aligned_alloc(64, (size_t)chunk * 256 * sizeof(hlmm_v8d));
    /* every chunk's lists: per SNP and code, the table rows to add (g·256 + mask) */
    /* (the caller's scratch when big enough: a fresh 64 MB would cost a page fault per
       4 KB at every call) */
    size_t nlist = (size_t)m * 4 * ngroups;
    uint16_t *own = scratch != NULL && scratch_len >= nlist ? NULL
                    : (uint16_t *)malloc(nlist * sizeof(uint16_t));
    uint16_t *lists = own != NULL ? own : scratch;
    uint16_t *counts = (uint16_t *)malloc((size_t)nchunks * m * 4 * sizeof(uint16_t));
    size_t *starts = (size_t *)malloc((size_t)nchunks * sizeof(size_t));
    ptrdiff_t band = (ptrdiff_t)(HLMM_TS_ACC_BYTES / ((size_t)m * 4 * sizeof(hlmm_v8d)));
    if (band > ntiles)
        band = ntiles;
    if (band < 1)
        band = 1;
    hlmm_v8d *acc = (hlmm_v8d *)aligned_alloc(64, (size_t)m * 4 * band *
                                              sizeof(hlmm_v8d));
    /* per SNP, the lanes of each code and its commonest code; the derived tiles' totals */
    int64_t *lanes_of = (int64_t *)calloc((size_t)m * 4, sizeof(int64_t));
    unsigned char *common = (unsigned char *)malloc((size_t)m + 1);
    double *tot = (double *)calloc((size_t)nderive * 8 + 1, sizeof(double));
    if (T == NULL || lists == NULL || counts == NULL || starts == NULL || acc == NULL
            || lanes_of == NULL || common == NULL || tot == NULL) {
        free(T); free(own); free(counts); free(starts); free(acc);
        free(lanes_of); free(common); free(tot);
        return -1;
    }
    for (ptrdiff_t t = 0; t < nderive; t++)
        for (ptrdiff_t u = 0; u < n; u++)
            for (int c = 0; c < 8; c++)
                tot[8 * t + c] += Bt[(t * npad + u) * 8 + c];
    /* each SNP's lanes of every code and its commonest code, before the lists: when
       every tile derives that code, its lists are not made */
    for (ptrdiff_t j = 0; j < m; j++) {
        int64_t *lj = lanes_of + j * 4;
        hlmm_ts_lanes(codes + j * ld, n, lj);
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (lj[k] > lj[best])
                best = k;
        common[j] = (unsigned char)best;
        if (ncode != NULL)
            for (int k = 0; k < 4; k++)
                ncode[j * 4 + slot[k]] += lj[k];
    }
    int skip_common = nderive == ntiles && ntiles > 0;
    size_t pos = 0;
    for (ptrdiff_t ci = 0; ci < nchunks; ci++) {
        ptrdiff_t g0 = ci * chunk, gn = ngroups - g0 < chunk ? ngroups - g0 : chunk;
        /* the last group may hold lanes past n (and its second byte be past the row) */
        unsigned last = 0xFF;
        if (g0 + gn == ngroups && (n & 7))
            last = (1u << (n & 7)) - 1;
        ptrdiff_t full = (g0 + gn == ngroups) ? gn - 1 : gn;
        starts[ci] = pos;
        for (ptrdiff_t j = 0; j < m; j++) {
            const uint8_t *row = codes + j * ld + 2 * g0;
            for (int k = 0; k < 4; k++) {
                if (skip_common && k == common[j]) {
                    counts[(ci * m + j) * 4 + k] = 0;
                    continue;
                }
                uint16_t *lst = lists + pos;
                const unsigned char *mk = HLMM_TS_MASK[k];
                ptrdiff_t cnt = 0, g;
                for (g = 0; g < full; g++) {
                    unsigned s = mk[row[2 * g]] | (unsigned)mk[row[2 * g + 1]] << 4;
                    lst[cnt] = (uint16_t)(g * 256 + s);
                    cnt += (s != 0);
                }
                if (g < gn) {
                    unsigned s = mk[row[2 * g]];
                    if (2 * (g0 + g) + 1 < nbytes)
                        s |= (unsigned)mk[row[2 * g + 1]] << 4;
                    s &= last;
                    lst[cnt] = (uint16_t)(g * 256 + s);
                    cnt += (s != 0);
                }
                counts[(ci * m + j) * 4 + k] = (uint16_t)cnt;
                pos += cnt;
            }
        }
    }
    for (ptrdiff_t t0 = 0; t0 < ntiles; t0 += band) {
        ptrdiff_t tb = ntiles - t0 < band ? ntiles - t0 : band;
        memset(acc, 0, (size_t)m * 4 * band * sizeof(hlmm_v8d));
        for (ptrdiff_t ci = 0; ci < nchunks; ci++) {
            ptrdiff_t g0 = ci * chunk, gn = ngroups - g0 < chunk ? ngroups - g0 : chunk;
            for (ptrdiff_t t = 0; t < tb; t++) {
                /* the chunk's tables of tile t0 + t: T_g[s] at row g·256 + s, each
                   row from a smaller one */
                const hlmm_v8d_u *rows = (const hlmm_v8d_u *)(Bt + ((t0 + t) * npad + 8 * g0) * 8);
                for (ptrdiff_t g = 0; g < gn; g++) {
                    hlmm_v8d *Tg = T + g * 256;
                    hlmm_v8d zero = {0};
                    Tg[0] = zero;
                    for (int lane = 0; lane < 8; lane++) {
                        hlmm_v8d x = rows[8 * g + lane];
                        hlmm_v8d *hi = Tg + (1 << lane);
                        for (int s = 0; s < (1 << lane); s++)
                            hi[s] = Tg[s] + x;
                    }
                }
                const uint16_t *idx = lists + starts[ci];
                const uint16_t *cnts = counts + ci * m * 4;
                int derived = t0 + t < nderive;
                for (ptrdiff_t jk = 0; jk < m * 4; jk++) {
                    ptrdiff_t cnt = cnts[jk], q = 0;
                    if (cnt == 0)
                        continue;
                    if (derived && (jk & 3) == common[jk >> 2]) {
                        idx += cnt;
                        continue;
                    }
                    /* four accumulators (entries by position mod 4): an add's
                       latency is longer than its issue interval (two measured ~5 %
                       slower) */
                    hlmm_v8d a = {0}, b = {0}, c = {0}, d = {0};
                    for (; q + 3 < cnt; q += 4) {
                        a += T[idx[q]];
                        b += T[idx[q + 1]];
                        c += T[idx[q + 2]];
                        d += T[idx[q + 3]];
                    }
                    for (; q < cnt; q++)
                        a += T[idx[q]];
                    acc[t * m * 4 + jk] += (a + b) + (c + d);
                    idx += cnt;
                }
            }
        }
        for (ptrdiff_t jk = 0; jk < m * 4; jk++) {
            double *dst = out + ((jk >> 2) * 4 + slot[jk & 3]) * C;
            ptrdiff_t j4 = jk & ~(ptrdiff_t)3;
            for (ptrdiff_t t = 0; t < tb; t++) {
                ptrdiff_t c0 = (t0 + t) * 8, w = C - c0 < 8 ? C - c0 : 8;
                const hlmm_v8d *a = acc + t * m * 4;
                if (t0 + t < nderive && (jk & 3) == common[jk >> 2]) {
                    /* the total minus the other codes (exact for integers) */
                    for (ptrdiff_t c = 0; c < w; c++)
                        dst[c0 + c] += tot[c0 + c] - (a[j4][c] + a[j4 + 1][c]
                                                       + a[j4 + 2][c] + a[j4 + 3][c]);
                } else {
                    for (ptrdiff_t c = 0; c < w; c++)
                        dst[c0 + c] += a[jk][c];
                }
            }
        }
    }
    free(T); free(own); free(counts); free(starts); free(acc);
    free(lanes_of); free(common); free(tot);
    return 0;
}

/* SNPs per part of a block of m: parts of equal size whose lists (8 bytes per SNP and
 * group of eight) stay within list_bytes. */
static ptrdiff_t hlmm_part_snps(ptrdiff_t m, ptrdiff_t n, size_t list_bytes)
{
    size_t per = (size_t)8 * ((n + 7) / 8) + 1;
    ptrdiff_t cap = (ptrdiff_t)(list_bytes / per), parts;
    if (cap < 1)
        cap = 1;
    parts = (m + cap - 1) / cap;
    if (parts < 1)
        parts = 1;
    return (m + parts - 1) / parts;
}

/* hlmm_code_sums_part over the parts of hlmm_part_snps. */
static int hlmm_code_sums(const uint8_t *codes, ptrdiff_t ld, ptrdiff_t m, ptrdiff_t n,
                          const double *Bt, ptrdiff_t npad, ptrdiff_t C, ptrdiff_t derive,
                          double *out,
                          int64_t *ncode, const int *slot, ptrdiff_t chunk,
                          size_t list_bytes, uint16_t *scratch, size_t scratch_len)
{
    ptrdiff_t size = hlmm_part_snps(m, n, list_bytes);
    for (ptrdiff_t j0 = 0; j0 < m; j0 += size) {
        ptrdiff_t mj = m - j0 < size ? m - j0 : size;
        if (hlmm_code_sums_part(codes + j0 * ld, ld, mj, n, Bt, npad, C, derive,
                                out + j0 * 4 * C,
                                ncode != NULL ? ncode + j0 * 4 : NULL, slot, chunk,
                                scratch, scratch_len) != 0)
            return -1;
    }
    return 0;
}
#endif
