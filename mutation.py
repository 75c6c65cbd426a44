"""Mutation testing: how many planted bugs does the test suite catch, per module?

    python mutation.py               # 100 mutants per module, then the table (hours)
    python mutation.py --sample 3    # a first look: 3 per module (about 15 minutes)
    python mutation.py --sample 0    # every mutant (tens of hours)
    python mutation.py --table       # the table from the verdicts so far, without running anything

mutmut (configured in pyproject.toml) writes a copy of every module into
`mutants/` with each mutant behind a switch, and runs, for each mutant, the
tests that call the mutated function; a mutant is killed when one of them
fails. Every mutant of this project takes seconds (its tests train small
networks), so by default a seeded random sample of each module's mutants is
run: 100 per module, all of a smaller module. A module's figure is then an
estimate, within about 6 points either way (95 %) around 90 %. A module is
named as Python imports it: `layers`, `program.cli`. Each run first has
mutmut write the mutants and map which tests reach which function (about
10 minutes); the times above are on two cores.

A surviving mutant is either a missing test or an equivalent change, one no
test can observe. The equivalent ones are listed with their reason in
docs/mutants.md, and the table counts them apart.

Exit status: 0 the table was printed; 1 it was not, and one line on stderr
says why (with --table before any run: no mutation run is recorded yet, and
the command to run first); 2 a flag was wrong; 128 + N stopped by signal N
(130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; the verdicts so far are kept); 141
the table's reader went away (`--table | head`).
"""
import argparse
import importlib.util
import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys

MUTANTS = pathlib.Path("mutants")
STATS = MUTANTS / "mutmut-stats.json"  # mutmut's map of which tests reach which function
EQUIVALENTS = pathlib.Path("docs/mutants.md")
# mutmut writes every mutant, then runs those named: naming the first mutant
# of each function of the smallest module (program/metrics.py, about 50
# mutants) makes it write them all, cheaply.
FIRST = "program.metrics.*__mutmut_1"
NOT_YET = ("mutation.py: no mutation run is recorded here yet (no records in mutants/): run "
           "`python mutation.py` first (a few hours on two cores; `--sample 3` for a first "
           "look, about 15 minutes), then --table")


def all_mutants():
    """{module: [mutant names]} from mutmut's records, mutants/<source path>.meta.

    A module is named as Python imports it and as mutmut names its mutants
    (program/cli.py is ``program.cli``). A record whose source file is no
    longer here (moved or removed since mutmut wrote it) is left out, as
    mutmut leaves it out; so is a module without mutants (an ``__init__.py``
    without functions).
    """
    names = {}
    for meta in MUTANTS.rglob("*.py.meta"):
        source = meta.relative_to(MUTANTS).with_suffix("")  # program/cli.py
        if not source.is_file():
            continue
        module = ".".join(source.with_suffix("").parts).removesuffix(".__init__")
        try:
            codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
            if not isinstance(codes, dict):
                raise TypeError
        except OSError as error:
            sys.exit(f"mutation.py: {meta} cannot be read: {error.strerror}")
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            sys.exit(f"mutation.py: {meta} is damaged (an interrupted run?): "
                     f"remove mutants/ and run again")
        if codes:
            names[module] = sorted(codes)
    return dict(sorted(names.items()))


def sample(names, size, seed):
    """Up to `size` mutants of each module, drawn reproducibly; all of them for size 0.

    Each module draws from its own generator, seeded by the seed and the
    module's name, so that editing one module changes that module's sample
    only: the others' recorded results stay in the sample.
    """
    return {module: (sorted(random.Random(f"{seed}:{module}").sample(keys, size))
                     if 0 < size < len(keys) else keys)
            for module, keys in names.items()}


def statuses():
    """{mutant name: status} as `mutmut results --all true` reports them."""
    lines = mutmut("results", "--all", "true", capture=True).splitlines()
    return dict(line.strip().split(": ", 1) for line in lines if ": " in line)


def equivalents():
    """Mutant names listed in docs/mutants.md (each in backquotes); none without it."""
    if not EQUIVALENTS.exists():
        return set()
    try:
        text = EQUIVALENTS.read_text(encoding="utf-8")
    except OSError as error:
        sys.exit(f"mutation.py: {EQUIVALENTS} cannot be read: {error.strerror}")
    except ValueError:
        sys.exit(f"mutation.py: {EQUIVALENTS} is not UTF-8 text")
    return set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", text))


def table(chosen, status, equivalent):
    """One row per module: killed counts timeouts, as mutmut does (the test did not pass)."""
    width = max(12, *map(len, chosen))  # program.experiment is 18 characters
    rows = [f"{'module':<{width}} mutants  killed  equivalent  survived  not run  "
            f"killed of the rest"]
    for module, keys in chosen.items():
        found = [_verdict(status.get(key, "not checked"), key in equivalent) for key in keys]
        killed, equal, not_run = (found.count(k) for k in ("killed", "equivalent", "not run"))
        survived = found.count("survived")
        rest = len(keys) - equal - not_run
        share = f"{100 * killed / rest:5.1f} %" if rest else "    -"
        rows.append(f"{module:<{width}} {len(keys):7d} {killed:7d} {equal:11d} {survived:9d} "
                    f"{not_run:8d}  {share}")
    return "\n".join(rows)


def _verdict(status, listed):
    """killed (a timeout too: the test did not pass), not run, equivalent or survived."""
    if status in ("killed", "timeout"):
        return "killed"
    if status in ("not checked", "check was interrupted by user", "skipped"):
        return "not run"
    return "equivalent" if listed else "survived"


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=100, metavar="N",
                        help="mutants drawn from each module, all of a module with fewer; "
                             "0 for every mutant (default: 100)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the draw: the same --sample and --seed give the same "
                             "mutants, so a later run or --table finds their verdicts "
                             "(default: 0)")
    parser.add_argument("--table", action="store_true",
                        help="run nothing: print the table of the mutants that --sample and "
                             "--seed draw, from the verdicts recorded in mutants/ so far "
                             "(status 1 and what to run first if there are none)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sample < 0:
        parser.error(f"--sample must be 0 or more, got {args.sample}")
    if not args.table:
        # mutmut maps the tests to the functions they reach once, and later only
        # for tests it has not seen: after a change of code or tests the map is
        # stale, and a mutant would not meet a test that now reaches it. Without
        # the map, mutmut draws it afresh (minutes); its verdicts are kept apart.
        STATS.unlink(missing_ok=True)
        mutmut("run", FIRST)
    names = all_mutants()
    if not names:
        if args.table:
            sys.exit(NOT_YET)
        sys.exit("mutation.py: mutmut ran but wrote no records in mutants/: "
                 "check [tool.mutmut] source_paths in pyproject.toml")
    chosen = sample(names, args.sample, args.seed)
    if not args.table:
        # A kill stands until its function changes (mutmut's own rule, so
        # `rm -r mutants` starts afresh); every other mutant runs again.
        status = statuses()
        again = [key for keys in chosen.values() for key in keys
                 if status.get(key) not in ("killed", "timeout")]
        if again:
            mutmut("run", *again)
    text = table(chosen, statuses(), equivalents())
    if sys.stdout is None:
        sys.exit("mutation.py: standard output is closed: the table has nowhere to go")
    try:
        print(text, flush=True)
    except OSError as error:
        # Nothing Python flushes at exit may complain again about this stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if isinstance(error, BrokenPipeError):  # the reader has gone (`--table | head`)
            sys.exit(141)
        sys.exit(f"mutation.py: the table could not be written: {error.strerror}")


def mutmut(*args, capture=False):
    """Run this Python's mutmut; its own output says what went wrong if it fails."""
    if importlib.util.find_spec("mutmut") is None:
        sys.exit("mutation.py: mutmut is not installed: "
                 "python -m pip install -r requirements-dev.txt")
    # In a session of its own, mutmut and its workers never see the terminal's
    # Ctrl-C: it reaches them through _stop, so that no test is cut short in
    # a worker (a test failing that way would be recorded as a kill).
    # A quiet call (capture) keeps mutmut's stderr too, shown only if it fails.
    quiet = subprocess.PIPE if capture else None
    with subprocess.Popen([sys.executable, "-m", "mutmut", *args], text=True, stdout=quiet,
                          stderr=quiet, start_new_session=True) as child:
        try:
            out, err = child.communicate()
        except KeyboardInterrupt as stop:  # Ctrl-C, or a signal met as one (Terminated)
            _stop(child, _exit_status(stop), running=args[0] == "run")
    if child.returncode:
        if err:
            print(err, end="", file=sys.stderr)
        sys.exit(f"mutation.py: mutmut {args[0]} failed with exit status {child.returncode}")
    return out


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``) or SIGHUP (a closed terminal), met as Ctrl-C is."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _terminated(signum, frame):
    raise Terminated(signum)


def _exit_status(interrupt):
    """128 + the signal's number, as a shell reports a program a signal stopped."""
    return 128 + (interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT)


def _stop(child, status, running=True):
    """After Ctrl-C: let mutmut stop and keep its verdicts; a second Ctrl-C stops it at once.

    mutmut is sent the Ctrl-C (SIGINT): it stops its workers and keeps every
    verdict it has recorded, so the next run goes on from there. (While it
    runs its clean tests, pytest takes the Ctrl-C for itself and mutmut goes
    on: hence the word about a second one.)
    """
    if not running:  # `mutmut results`: nothing to keep, nothing to wait for
        _kill(child)
        print("mutation.py: interrupted", file=sys.stderr)
        sys.exit(status)
    print("mutation.py: stopping when mutmut has kept its verdicts "
          "(Ctrl-C again to stop it at once)", file=sys.stderr)
    child.send_signal(signal.SIGINT)
    try:
        child.wait()
        kept = "the verdicts so far are kept in mutants/"
    except KeyboardInterrupt:
        _kill(child)
        kept = "mutmut was stopped at once; if mutants/ is damaged, remove it"
    print(f"mutation.py: interrupted; {kept}", file=sys.stderr)
    sys.exit(status)


def _kill(child):
    """Stop mutmut and every worker it started (its process group) at once."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:  # it had ended already
        pass
    child.wait()


def run(argv=None):
    """``main`` as a program, from the repository's root wherever it was started.

    SIGTERM and SIGHUP are met as Ctrl-C is, each a line and its status:
    mutmut, in a session of its own, would otherwise outlive this process.
    """
    os.chdir(pathlib.Path(__file__).resolve().parent)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminated)
    try:
        main(argv)
    except KeyboardInterrupt as stop:  # between mutmut's runs: nothing to wait for
        print("mutation.py: interrupted", file=sys.stderr)
        sys.exit(_exit_status(stop))


if __name__ == "__main__":
    run()
