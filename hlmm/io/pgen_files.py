"""The small files of a PLINK 2 fileset, read without pgenlib: the .psam sample table
(or a headerless .fam-style one) and what the .pgen header announces (storage mode,
counts, dosage presence, the size the file must have), so that a wrong or truncated
file fails on opening with one line naming it; and the one-line text of pgenlib's own
errors.  :class:`hlmm.io.pgen.PgenSource` opens filesets with them.
"""
import os

import numpy as np

from ..errors import InputError
from .tokens import check_ids, read_lines, text_array

PGEN_MAGIC = b"\x6c\x1b"
VBLOCK = 65536           # variants per .pgen header block (kPglVblockSize)

# pgenlib's PglErr codes, as its read functions report them ("read_range() error 4")
_PGL_ERRORS = {2: "out of memory", 3: "cannot open the file",
               4: "read failure (truncated or changed since it was opened?)",
               6: "malformed .pgen", 7: "inconsistent with the .pvar/.psam",
               13: "not supported by this pgenlib"}


def _first_line(exc):
    """One line of an exception's message (pgenlib raises RuntimeError(bytes))."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(exc)
    text = text.strip()
    if text.startswith("Error: "):
        text = text[7:]
    if not text:
        return f"{type(exc).__name__} (pgenlib gave no reason)"
    text = text.splitlines()[0].rstrip(".")
    code = text.rsplit(" error ", 1)
    if len(code) == 2 and code[1].isdigit() and int(code[1]) in _PGL_ERRORS:
        text += f": {_PGL_ERRORS[int(code[1])]}"
    return text


def pgen_prefix(path):
    path = str(path)
    return path[:-5] if path.lower().endswith(".pgen") else path


# ---------------------------------------------------------------------------- .psam
def read_psam(path, where=None):
    """``(fid, iid, match_by_iid, line_numbers)`` of a .psam (or headerless .fam-style)
    file; ``line_numbers``: the 1-based line of each sample. ``where`` adds context to
    messages (e.g. ``"GENOFILE X.pgen"``)."""
    ctx = f" ({where})" if where else ""
    lines = read_lines(path, path, ctx, _first_line)
    header = None
    rows, numbers = [], []
    for k, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            continue
        if header is None and not rows:
            if s.startswith("##"):
                continue
            if s.startswith("#"):
                header = s[1:].split()
                header_line = k
                continue
        rows.append(s.split())
        numbers.append(k)
    if header is not None:
        if not header or header[0] not in ("FID", "IID"):
            found = " ".join(header[:3]) if header else ""
            raise InputError(f"{path} line {header_line}: the header must start with "
                             f"#FID or #IID, found '#{found}'{ctx}")
        if "IID" not in header:
            raise InputError(f"{path} line {header_line}: the header has no IID column{ctx}")
        has_fid = header[0] == "FID"
        j_iid = header.index("IID")
        need = len(header)
    else:
        has_fid, j_iid, need = True, 1, 2   # .fam-style: FID IID PAT MAT SEX PHENO
    for tok, k in zip(rows, numbers):
        if len(tok) < need:
            what = f"{need} columns ({' '.join(header)})" if header else "at least 2 columns (FID IID)"
            raise InputError(f"{path} line {k}: expected {what}, found {len(tok)}{ctx}")
    if not rows:
        raise InputError(f"{path}: no individuals{ctx}")
    iid = text_array([tok[j_iid] for tok in rows])
    check_ids(iid, "IID of individual", f"{path}{ctx}")
    if has_fid:
        fid = text_array([tok[0] for tok in rows])
        check_ids(fid, "FID of individual", f"{path}{ctx}")
        return fid, iid, False, numbers
    return iid.copy(), iid, True, numbers


# ---------------------------------------------------------------------------- header
def _read_exact(fh, count, path, what):
    buf = fh.read(count)
    if len(buf) != count:
        raise InputError(f"{path}: cannot read: truncated within the header ({what})")
    return buf


def read_pgen_header(path):
    """What the .pgen header says, without pgenlib: a dict with ``mode`` (third byte),
    ``variant_ct`` and ``sample_ct`` (None for a PLINK 1 .bed stored as .pgen),
    ``dosage`` (some variant stores dosages: pgenlib's DosagePresent flag, from the
    per-variant record types), ``size`` (the file size the header implies, or None when
    it depends on the sample count or on an encoding not checked here)."""
    fsize = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 3 or head[:2] != PGEN_MAGIC:
            raise InputError(f"{path}: cannot read: not a PLINK 2 .pgen file "
                             "(wrong magic number)")
        mode = head[2]
        info = {"mode": mode, "variant_ct": None, "sample_ct": None, "dosage": False,
                "size": None}
        if mode == 0x01:      # PLINK 1 variant-major .bed under a .pgen name
            return info
        if len(head) < 12:
            raise InputError(f"{path}: cannot read: truncated within the header "
                             f"({fsize} bytes)")
        m = int.from_bytes(head[3:7], "little")
        n = int.from_bytes(head[7:11], "little")
        ctrl = head[11]
        info.update(variant_ct=m, sample_ct=n)
        nonref_stored = (ctrl >> 6) == 3
        if 2 <= mode <= 4:    # fixed-width records: hard calls [+ dosages]
            width = (n + 3) // 4 + (2 * n if mode == 3 else 4 * n if mode == 4 else 0)
            offset = 12 + ((m + 7) // 8 if nonref_stored else 0)
            info.update(dosage=mode >= 3, size=offset + m * width)
            return info
        if mode != 0x10:      # storage modes pgenlib may know and this code does not
            info["dosage"] = True
            return info
        storage = ctrl & 15
        alt_ct_bytes = (ctrl >> 4) & 3
        if storage >= 8:      # special single-sample encodings
            info["dosage"] = storage in (12, 14)
            return info
        if m == 0:
            return info
        vblock_ct = (m + VBLOCK - 1) // VBLOCK
        fpos = np.frombuffer(_read_exact(fh, 8 * vblock_ct, path, "block offsets"),
                             dtype="<u8")
        bytes_per_len = 1 + (storage & 3)
        dosage = False
        end = None
        for b in range(vblock_ct):
            cnt = min(VBLOCK, m - b * VBLOCK)
            if storage < 4:   # 4-bit record types: no phase, no dosage
                _read_exact(fh, (cnt + 1) // 2, path, "record types")
            else:
                vrtypes = np.frombuffer(_read_exact(fh, cnt, path, "record types"),
                                        dtype=np.uint8)
                dosage = dosage or bool(np.any(vrtypes & 0x60))
            lens = _read_exact(fh, cnt * bytes_per_len, path, "record lengths")
            if b == vblock_ct - 1:
                raw = np.frombuffer(lens, dtype=np.uint8).reshape(cnt, bytes_per_len)
                weights = 256 ** np.arange(bytes_per_len, dtype=np.uint64)
                end = int(fpos[b]) + int((raw.astype(np.uint64) @ weights).sum())
            skip = cnt * alt_ct_bytes + ((cnt + 7) // 8 if nonref_stored else 0)
            if skip:
                _read_exact(fh, skip, path, "allele counts / flags")
        info.update(dosage=dosage, size=end)
        return info
