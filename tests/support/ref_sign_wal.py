"""Make signed WALs with the Python reference's own signer, for the tests.

Run with PYTHONPATH holding the reference (shared/reference/python):
  ref_sign_wal.py new DIR ID KEYDIR   write DIR/ID.wal with the reference's
                                      WALWriter and a fresh Ed25519WALSigner
  ref_sign_wal.py sign FILE KEYDIR    sign every entry of an existing WAL
                                      (WALEntry.from_dict + entry.sign)
  ref_sign_wal.py forge FILE SEQ      flip one bit of entry SEQ's signature
  ref_sign_wal.py strip FILE SEQ      drop entry SEQ's signature fields
  ref_sign_wal.py tamper FILE SEQ     change entry SEQ's payload and re-hash
                                      the chain, keeping the old signatures
KEYDIR receives pub.pem, pub.raw, pub.hex and key_id; new and sign print
the key id. Lines are written as the reference writes them.
"""

import base64
import json
import os
import sys

from intentusnet.wal.models import WALEntry, WALEntryType
from intentusnet.wal.signing import Ed25519WALSigner
from intentusnet.wal.writer import WALWriter


def save_keys(signer, keydir):
    os.makedirs(keydir, exist_ok=True)
    with open(os.path.join(keydir, "pub.pem"), "wb") as f:
        f.write(signer.export_public_pem())
    with open(os.path.join(keydir, "pub.raw"), "wb") as f:
        f.write(signer.public_key_bytes)
    with open(os.path.join(keydir, "pub.hex"), "w") as f:
        f.write(signer.public_key_bytes.hex() + "\n")
    with open(os.path.join(keydir, "key_id"), "w") as f:
        f.write(signer.key_id)
    print(signer.key_id)


def read_entries(path):
    with open(path, encoding="utf-8") as f:
        return [WALEntry.from_dict(json.loads(l)) for l in f if l.strip()]


def write_entries(path, entries):
    with open(path, "w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")


def main(argv):
    mode = argv[1]
    if mode == "new":
        wal_dir, exec_id, keydir = argv[2:5]
        signer = Ed25519WALSigner.generate()
        with WALWriter(wal_dir, exec_id, signer=signer, require_signing=True) as w:
            w.execution_started("ab" * 32, "t.x")
            w.step_started("s1", "agent-a", "read_only", {}, "cd" * 32)
            w.step_completed("s1", "ef" * 32, True)
            w.execution_completed("01" * 32)
        save_keys(signer, keydir)
        return 0
    if mode == "sign":
        path, keydir = argv[2:4]
        signer = Ed25519WALSigner.generate()
        entries = read_entries(path)
        for e in entries:
            e.sign(signer)
        write_entries(path, entries)
        save_keys(signer, keydir)
        return 0
    path, seq = argv[2], int(argv[3])
    entries = read_entries(path)
    target = entries[seq - 1]
    if mode == "forge":
        sig = bytearray(base64.b64decode(target.signature))
        sig[10] ^= 0x01
        target.signature = base64.b64encode(bytes(sig)).decode("ascii")
    elif mode == "strip":
        target.signature = None
        target.signer_key_id = None
    elif mode == "tamper":
        target.payload = dict(target.payload, tampered=True)
        prev = entries[seq - 2].entry_hash if seq > 1 else None
        for e in entries[seq - 1:]:
            e.prev_hash = prev
            e.entry_hash = e.compute_hash()
            prev = e.entry_hash
    else:
        print("unknown mode " + mode, file=sys.stderr)
        return 2
    write_entries(path, entries)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
