"""Read and write the tab-separated results tables of a scan (``OUTPREFIX.models.gz``).

A table is a header line of column names followed by one line per SNP, fields separated by
tabs (any whitespace is accepted on reading). The scan writes it gzip-compressed; the
original hlmm wrote it as plain text despite the ``.gz`` name, so the reader decides from
the file's first two bytes (the gzip magic number ``1f 8b``), not from its name.

Columns are kept in file order. Every field's original text is kept, so a table that is
read and written back is unchanged byte for byte apart from columns that were added.
Numeric columns are also available as float64 arrays: ``NA`` (how hlmm, PLINK and R write
a missing value) and ``nan``/``NaN`` (how the original hlmm wrote a filtered SNP) become NaN.
"""
import gzip
import math

import numpy as np

from .output import AtomicOutputs

_GZIP_MAGIC = b"\x1f\x8b"
_MISSING = {"nan", "na", "-nan", "+nan", ""}


class ResultsTable:
    """Columns of a results table, by name, in file order.

    ``text[name]`` is the list of the column's fields as written in the file;
    ``float(name)`` parses a numeric column into a float64 array (NaN for missing);
    ``add_column(name, values)`` appends a numeric column (written with ``repr``, i.e.
    the shortest round-trip representation; NaN is written ``NA``).
    """

    def __init__(self, columns, text, path=None):
        self.columns = list(columns)
        self.text = dict(text)
        self.path = path
        lengths = {len(v) for v in self.text.values()}
        if len(lengths) > 1:
            raise ValueError(f"{path}: columns have different lengths")
        self.n_rows = lengths.pop() if lengths else 0

    def __contains__(self, name):
        return name in self.text

    def __len__(self):
        return self.n_rows

    def require(self, *names):
        missing = [n for n in names if n not in self.text]
        if missing:
            where = f"{self.path}: " if self.path else ""
            raise ValueError(f"{where}missing column(s) {', '.join(missing)}; "
                             f"the header has {', '.join(self.columns)}")

    def float(self, name):
        """The column ``name`` as a float64 array; missing values (NaN, nan, NA) are NaN."""
        self.require(name)
        try:  # fast path: numpy parses numbers, "nan" and "NaN" itself, not "NA"
            return np.asarray(["nan" if f == "NA" else f for f in self.text[name]],
                              dtype=np.float64)
        except ValueError:
            pass
        out = np.empty(self.n_rows)
        for i, field in enumerate(self.text[name]):
            if field.lower() in _MISSING:
                out[i] = np.nan
                continue
            try:
                out[i] = float(field)
            except ValueError:
                where = f"{self.path}: " if self.path else ""
                raise ValueError(f"{where}column {name}, row {i + 1}: "
                                 f"{field!r} is not a number") from None
        return out

    def add_column(self, name, values):
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape[0] != self.n_rows:
            raise ValueError(f"column {name} has {values.shape[0]} values for "
                             f"{self.n_rows} rows")
        if name not in self.text:
            self.columns.append(name)
        self.text[name] = [_format(v) for v in values]

    def write(self, path, compress=None):
        """Write the table atomically: to a temporary file beside ``path``, then rename.

        ``compress`` None means gzip when ``path`` ends in ``.gz``.
        """
        if compress is None:
            compress = str(path).endswith(".gz")
        with AtomicOutputs() as out:
            with open(out.temp_path(str(path)), "wb") as raw:
                if compress:
                    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                        gz.write(self.to_text().encode())
                else:
                    raw.write(self.to_text().encode())
            out.commit()

    def to_text(self):
        lines = ["\t".join(self.columns)]
        cols = [self.text[c] for c in self.columns]
        for i in range(self.n_rows):
            lines.append("\t".join(col[i] for col in cols))
        return "\n".join(lines) + "\n"


def _format(v):
    if math.isnan(v):
        return "NA"
    return repr(float(v))


def open_text(path):
    """Open a file for reading text, gunzipping it if its content is gzip."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rt")
    return open(path, "rt")


def read_table(path):
    """Read a results table (gzip or plain text) into a :class:`ResultsTable`.

    Raises OSError if the file cannot be opened and ValueError (naming the file and line)
    if it is empty, not text, or a line has the wrong number of fields.
    """
    try:
        with open_text(path) as fh:
            lines = fh.read().splitlines()
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: not a readable text table ({exc})") from None
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: the file is empty")
    columns = lines[0].split()
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path}: duplicate column names in the header")
    text = {c: [] for c in columns}
    ncol = len(columns)
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) != ncol:
            raise ValueError(f"{path}: line {lineno} has {len(fields)} fields, "
                             f"the header has {ncol}")
        for c, f in zip(columns, fields):
            text[c].append(f)
    return ResultsTable(columns, text, path=str(path))
