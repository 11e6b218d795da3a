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


def user_errors(f):
    """Turn an InputError (bad input) into click's one-line ``Error: …`` and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except InputError as exc:
            raise click.ClickException(str(exc)) from None
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
            words.append(str(value))
            continue
        if value is None or value is False or value == () or value == param.default:
            continue
        flag = param.opts[0]
        values = value if isinstance(value, (tuple, list)) else [value]
        for v in values:
            words.extend([flag] if v is True else [flag, str(v)])
    return " ".join(shlex.quote(w) for w in words)
