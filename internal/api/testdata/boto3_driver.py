"""Drives tether server with boto3 (test helper for internal/api).

Reads {"endpoint": url, "calls": [{"op", "args", "creds": [key, secret, token?],
"paginate": page_size?}]} on stdin and prints one JSON result per call:
{"ok": response} or {"error": {"code", "message", "status", "request_id", "class"}}.
"""
import json
import sys

import boto3
import botocore.config
import botocore.exceptions


def client(endpoint, creds):
    return boto3.client(
        "ssm", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
        aws_session_token=creds[2] if len(creds) > 2 else None,
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def main():
    req = json.load(sys.stdin)
    out = []
    for call in req["calls"]:
        c = client(req["endpoint"], call["creds"])
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
