"""``theorycheck`` as a user runs it, on ManyTinySignFlips registered as lazy-sign-flips.

    python tests/_cli_tiny.py [--fsize BYTES] ARGS...    (e.g. run lazy-sign-flips --out DIR)

Prints ``ready`` before calling :func:`theorycheck.cli.main`; the simulation is registered inside
the CLI's run command, so every heavy import happens after the CLI installed its interrupt
handler, as in the console script. ``--fsize`` caps the size of every file this process writes
(RLIMIT_FSIZE, the ENOSPC of a nearly full disk: writes past it fail with EFBIG).
"""

import sys

import theorycheck.cli as cli

_original = cli._cmd_run


def _cmd_run(args):
    from _tiny import ManyTinySignFlips

    import simulations

    simulations.REGISTRY["lazy-sign-flips"] = ManyTinySignFlips()
    return _original(args)


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["--fsize"]:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails, no kill
        limit = int(argv[1])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        argv = argv[2:]
    cli._cmd_run = _cmd_run
    print("ready", flush=True)
    sys.exit(cli.main(argv))
