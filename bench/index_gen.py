#!/usr/bin/env python3
"""A large record directory for the index query benchmarks (bench/index_queries.sh).

    bench/index_gen.py N DIR [TEMPLATES...]

Each record is a copy of a template record (records written by `intentus
route`, the real writer, and the reference's own records in
tests/data/reference-records) with a fresh executionId and a createdUtcIso
spread evenly over the last 30 days, so `records gc --older-than 7d` has
about three quarters of the directory to plan. Files are written by a
hidden temp file and rename, as the writer does. A few corrupt files (one
in 2,000) are mixed in. Written to a separate file from h-idxw's
`intentus bench gen` on purpose; the two can be compared.
"""
import datetime
import json
import os
import random
import sys
import uuid


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    paths = sys.argv[3:]
    templates = []
    for p in paths:
        for name in sorted(os.listdir(p)) if os.path.isdir(p) else [p]:
            f = os.path.join(p, name) if os.path.isdir(p) else p
            if f.endswith(".json"):
                with open(f, encoding="utf-8") as fh:
                    text = fh.read()
                rec = json.loads(text)
                templates.append((text, rec["header"]["executionId"], rec["header"]["createdUtcIso"]))
    if not templates:
        sys.exit("index_gen: no template records")
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(42)
    now = datetime.datetime.now(datetime.timezone.utc)
    span = 30 * 86400
    for i in range(n):
        text, old_id, old_created = templates[rnd.randrange(len(templates))]
        new_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        when = now - datetime.timedelta(seconds=span * (n - i) / n)
        created = when.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        body = text.replace(old_id, new_id).replace(old_created, created, 1)
        if i % 2000 == 1999:
            body = body[: len(body) // 2]  # a torn file: shown as corrupt
        tmp = os.path.join(out, "." + new_id + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.rename(tmp, os.path.join(out, new_id + ".json"))


if __name__ == "__main__":
    main()
