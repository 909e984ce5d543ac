"""Drives tether server with boto3 (test helper for internal/api).

Reads {"endpoint": url, "calls": [{"op", "args", "creds": [key, secret, token?],
"paginate": page_size?, "unsigned": bool?, "skew": seconds?}]} on stdin and prints one JSON result per call:
{"ok": response} or {"error": {"code", "message", "status", "request_id", "class"}}.
"""
import json
import sys

import datetime

import boto3
import botocore
import botocore.auth
import botocore.config
import botocore.exceptions


def client(endpoint, creds, unsigned=False):
    cfg = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
    if unsigned:
        cfg = cfg.merge(botocore.config.Config(signature_version=botocore.UNSIGNED))
    return boto3.client(
        "ssm", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
        aws_session_token=creds[2] if len(creds) > 2 else None, config=cfg)


def skew_clock(seconds):
    """Makes botocore's SigV4 signer believe the clock is off by seconds."""
    delta = datetime.timedelta(seconds=seconds)
    if hasattr(botocore.auth, "get_current_datetime"):  # botocore >= 1.3x
        orig = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda *a, **k: orig(*a, **k) + delta
        return

    class Shifted(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() + delta

    class Module:
        pass

    mod = Module()
    mod.datetime, mod.timedelta, mod.timezone = Shifted, datetime.timedelta, datetime.timezone
    botocore.auth.datetime = mod
    crt = sys.modules.get("botocore.crt.auth")  # the CRT signer, when awscrt is installed
    if crt is not None:
        crt.datetime = mod


def main():
    req = json.load(sys.stdin)
    out = []
    for call in req["calls"]:
        if call.get("skew"):
            skew_clock(call["skew"])  # stays in effect: put such calls last
        c = client(req["endpoint"], call["creds"], call.get("unsigned", False))
        try:
            if call.get("paginate"):
                pages = c.get_paginator(call["op"]).paginate(
                    **call["args"], PaginationConfig={"PageSize": call["paginate"]})
                res = {"pages": [p for p in pages]}
            else:
                res = getattr(c, call["op"])(**call["args"])
            out.append({"ok": res})
        except botocore.exceptions.ClientError as e:
            out.append({"error": {
                "code": e.response["Error"]["Code"],
                "message": e.response["Error"].get("Message", ""),
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "request_id": e.response["ResponseMetadata"].get("RequestId", ""),
                "class": type(e).__name__,
            }})
    json.dump({"boto3": boto3.__version__, "results": out}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
