"""``theorycheck`` as a user runs it, on ManyTinySignFlips registered as lazy-sign-flips.

    python tests/_cli_tiny.py [--fsize BYTES] [--slow SECONDS] ARGS...
                                                         (e.g. run lazy-sign-flips --out DIR)

Prints ``ready`` as soon as :func:`theorycheck.cli.main` has installed its interrupt handler
(what it does first); the simulation is registered inside the CLI's run command, so every heavy
import happens after that, as in the console script. ``--fsize`` caps the size of every file
this process writes (RLIMIT_FSIZE, the ENOSPC of a nearly full disk: writes past it fail with
EFBIG). ``--slow`` registers SlowTinySignFlips instead, each block waiting SECONDS (a run with
blocks in flight long enough to interrupt them).
"""

import sys

import theorycheck.cli as cli

_original = cli._cmd_run
_slow: list[float] = []  # --slow SECONDS


def _cmd_run(args):
    from _tiny import ManyTinySignFlips, SlowTinySignFlips

    from theorycheck import simulations

    sim = SlowTinySignFlips(_slow[0]) if _slow else ManyTinySignFlips()
    simulations.REGISTRY["lazy-sign-flips"] = sim
    return _original(args)


def _install_then_ready(*args, **kwargs):
    previous = _original_install(*args, **kwargs)
    print("ready", flush=True)
    return previous


if __name__ == "__main__":
    from theorycheck import interrupts

    _original_install = interrupts.install
    interrupts.install = _install_then_ready
    argv = sys.argv[1:]
    if argv[:1] == ["--fsize"]:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails, no kill
        limit = int(argv[1])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        argv = argv[2:]
    if argv[:1] == ["--slow"]:
        _slow.append(float(argv[1]))
        argv = argv[2:]
    cli._cmd_run = _cmd_run
    sys.exit(cli.main(argv))
