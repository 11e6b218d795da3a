"""Shared click helpers: dash option names with the original's underscore spellings as aliases."""
import functools
import sys

import click

from hlmm.errors import InputError


def option(name, *args, **kwargs):
    """``--mean-covar`` plus the alias ``--mean_covar`` (the original's spelling)."""
    names = [name]
    if "-" in name[2:]:
        names.append("--" + name[2:].replace("-", "_"))
    return click.option(*names, *args, **kwargs)


def _missing_number(ctx, param, value):
    if value is None or value.lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a number (or 'none')") from None


def missing_number_option():
    """PLINK's ``--input-missing-phenotype``: the number read as missing (default −9)."""
    return click.option("--input-missing-phenotype", "input_missing_phenotype", type=str,
                        default=-9.0,
                        show_default=True, callback=_missing_number, metavar="NUMBER",
                        help="Phenotype/covariate value read as missing, as in PLINK "
                             "('none': no number is missing; --missing-char is missing too).")


def sample_id_options(f):
    """``--sample`` and ``--id-delim``: the sample IDs of .bgen genotype files."""
    f = option("--id-delim", default="_", show_default=True, metavar="CHAR",
               help="BGEN sample IDs embedded as FID, CHAR, IID (as plink2 --export bgen "
                    "writes them) are split here when that matches the phenotype file.")(f)
    return option("--sample", "sample", type=click.Path(dir_okay=False),
                  help="BGEN: the Oxford .sample file of the .bgen genotype files (default: "
                       "the .sample beside a .bgen when it fits its embedded IDs, else "
                       "the embedded IDs, as IIDs or split on --id-delim, whichever "
                       "matches the phenotype file).")(f)


def allele_options(f):
    """Which allele of each variant is counted: ``--ref-first`` / ``--ref-last``
    (plink2's and REGENIE's words) and ``--count-a2``."""
    f = option("--count-a2", is_flag=True,
               help="Count the second allele (.bim A2, as hlmm 1.x did; .pvar ALT; BGEN's "
                    "second); the same as --ref-first.")(f)
    f = option("--ref-last", is_flag=True,
               help="The last allele of each variant is the reference: count the first "
                    "(.bim A1, .pvar REF, BGEN's first; REGENIE's default) [default for "
                    ".bed].")(f)
    return option("--ref-first", is_flag=True,
                  help="The first allele of each variant is the reference: count the "
                       "second (.pvar ALT, BGEN's second, .bim A2) [default for .pgen and "
                       ".bgen].")(f)


MESSAGE_MAX = 1000    # characters of an error message shown


def one_line(message):
    """``message`` as one line of bounded length: control characters escaped (a newline
    or NUL inside a token from a user's file), the middle of a very long one cut (a
    10,000-digit token, a list of 200,000 column names)."""
    out = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message) \
        if not message.isprintable() else message
    if len(out) > MESSAGE_MAX:
        out = f"{out[:MESSAGE_MAX - 200]} […{len(out) - MESSAGE_MAX + 100:,} characters…] " \
              f"{out[-100:]}"
    return out


def user_errors(f):
    """Turn an InputError (bad input) into click's one-line ``Error: …`` and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except InputError as exc:
            raise click.ClickException(one_line(str(exc))) from None
        except KeyboardInterrupt:
            click.echo("hlmm: interrupted; no output written", err=True)
            sys.exit(130)

    return wrapper


def progress_bar(label):
    """A factory for click's progress bar on stderr, shown only when stderr is a terminal."""

    def make(total):
        if sys.stderr.isatty():
            return click.progressbar(length=total, label=label, file=sys.stderr)
        return None

    return make


def command_line(ctx):
    """The invocation as a shell command, rebuilt from click's parsed parameters (so it is
    right also when the command is invoked from Python, e.g. by ``hlmm tutorial``)."""
    import shlex

    words = ctx.command_path.split()
    if words:
        words[0] = "hlmm"
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words.extend(map(str, value) if isinstance(value, (tuple, list)) else [str(value)])
            continue
        if value is None or value is False or value == () or value == param.default:
            continue
        flag = param.opts[0]
        values = value if isinstance(value, (tuple, list)) else [value]
        for v in values:
            words.extend([flag] if v is True else [flag, str(v)])
    return " ".join(shlex.quote(w) for w in words)


class PrefixCommand(click.Command):
    """A command that accepts unambiguous prefixes of its long options (``--whole`` for
    ``--whole-chr``, ``--mean`` for ``--mean_covar``), as the original's argparse did, so
    old scripts keep working.  A prefix shared by two different options is an error that
    names them."""

    def parse_args(self, ctx, args):
        longs = {}
        for param in self.params:
            if isinstance(param, click.Option):
                for name in param.opts + param.secondary_opts:
                    if name.startswith("--"):
                        longs[name] = param
        out = []
        it = iter(args)
        for arg in it:
            if arg == "--":
                out.append(arg)
                out.extend(it)
                break
            if not arg.startswith("--") or arg == "--":
                out.append(arg)
                continue
            name, eq, value = arg.partition("=")
            param = longs.get(name)
            if param is None:
                hits = {p.name: (n, p) for n, p in longs.items() if n.startswith(name)}
                if len(hits) > 1:
                    names = sorted(p.opts[0] for _, p in hits.values())
                    raise click.UsageError(f"option {name} is ambiguous (could be "
                                           f"{', '.join(names)})", ctx)
                if len(hits) == 1:
                    full, param = next(iter(hits.values()))
                    # the spelling of the alias matched keeps flags and aliases distinct
                    name = full
            out.append(name + eq + value)
            if param is not None and not eq and not param.is_flag and param.nargs == 1:
                nxt = next(it, None)     # the option's value, whatever it looks like
                if nxt is not None:
                    out.append(nxt)
        return super().parse_args(ctx, out)
