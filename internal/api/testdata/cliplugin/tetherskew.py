"""AWS CLI plugin (test helper for internal/api): shifts the clock that the
CLI's SigV4 signer reads by $TETHER_TEST_CLOCK_SKEW seconds, so that tests can
drive the server's clock-skew check through the real CLI. Loaded with

    [plugins]
    cli_legacy_plugin_path = <this directory>   # CLI v2
    tetherskew = tetherskew                      # CLI v1 needs PYTHONPATH too
"""
import datetime
import importlib
import os


def _shifted_module(delta):
    class Shifted(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() + delta

        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) + delta

    class Module:
        pass

    mod = Module()
    mod.datetime, mod.timedelta, mod.timezone = Shifted, datetime.timedelta, datetime.timezone
    return mod


def _patch(mod, delta):
    if hasattr(mod, "get_current_datetime"):
        orig = mod.get_current_datetime
        mod.get_current_datetime = lambda *a, **k: orig(*a, **k) + delta
    if hasattr(mod, "datetime"):
        mod.datetime = _shifted_module(delta)


def awscli_initialize(cli):
    seconds = int(os.environ.get("TETHER_TEST_CLOCK_SKEW") or 0)
    if not seconds:
        return
    delta = datetime.timedelta(seconds=seconds)
    for name in ("botocore.auth", "botocore.crt.auth", "awscli.botocore.auth", "awscli.botocore.crt.auth"):
        try:
            mod = importlib.import_module(name)
        except Exception:  # not installed, or no CRT
            continue
        _patch(mod, delta)
