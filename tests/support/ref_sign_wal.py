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
  ref_sign_wal.py signwith FILE PEM   sign every entry of FILE with the private
                                      key PEM (Ed25519WALSigner.from_pem_file)
  ref_sign_wal.py genkey KEYDIR       a fresh key pair: KEYDIR/priv.pem (PKCS#8,
                                      as cryptography writes it) and priv.raw
                                      (from_private_bytes' 32 bytes), both
                                      0600, plus the public files below
  ref_sign_wal.py swap FILE SEQ       swap the lines of entries SEQ and SEQ+1
                                      (each keeps its own valid signature)
  ref_sign_wal.py verify FILE PUBPEM  verify FILE as the reference does:
                                      WALReader.read_all (seq, chain, hashes)
                                      and entry.verify_signature with an
                                      Ed25519WALVerifier holding PUBPEM;
                                      prints "ok N" (exit 0) or the first
                                      problem naming its seq (exit 1)
KEYDIR receives pub.pem, pub.raw, pub.hex and key_id; new and sign print
the key id. Lines are written as the reference writes them.
"""

import base64
import json
import os
import sys

import hashlib

from cryptography.hazmat.primitives import serialization

from intentusnet.wal.models import WALEntry, WALEntryType, WALSignatureError
from intentusnet.wal.reader import WALIntegrityError, WALReader
from intentusnet.wal.signing import Ed25519WALSigner, Ed25519WALVerifier
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


def verify(path, pub_pem):
    with open(pub_pem, "rb") as f:
        pem = f.read()
    raw = serialization.load_pem_public_key(pem).public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)
    verifier = Ed25519WALVerifier()
    verifier.add_public_key_pem(hashlib.sha256(raw).hexdigest()[:16], pem)
    wal_dir, name = os.path.split(os.path.abspath(path))
    try:
        entries = WALReader(wal_dir, name[:-len(".wal")]).read_all(verify_integrity=True)
    except WALIntegrityError as e:
        print("integrity: %s" % e)
        return 1
    for e in entries:
        try:
            ok = e.verify_signature(verifier)
        except WALSignatureError as err:
            print("seq %d: %s" % (e.seq, err))
            return 1
        if not ok:
            known = verifier.has_key(e.signer_key_id)
            print("seq %d: signature does not verify (%s)" %
                  (e.seq, "key %s" % e.signer_key_id if known
                   else "unknown key %s" % e.signer_key_id))
            return 1
    print("ok %d" % len(entries))
    return 0


def main(argv):
    mode = argv[1]
    if mode == "verify":
        return verify(argv[2], argv[3])
    if mode == "signwith":
        signer = Ed25519WALSigner.from_pem_file(argv[3])
        entries = read_entries(argv[2])
        for e in entries:
            e.sign(signer)
        write_entries(argv[2], entries)
        print(signer.key_id)
        return 0
    if mode == "genkey":
        keydir = argv[2]
        signer = Ed25519WALSigner.generate()
        key = signer._private_key
        os.makedirs(keydir, exist_ok=True)
        for name, data in (
                ("priv.pem", key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())),
                ("priv.raw", key.private_bytes(serialization.Encoding.Raw,
                                               serialization.PrivateFormat.Raw,
                                               serialization.NoEncryption()))):
            fd = os.open(os.path.join(keydir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        save_keys(signer, keydir)
        return 0
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
    if mode == "swap":
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        lines[seq - 1], lines[seq] = lines[seq], lines[seq - 1]
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines)
        return 0
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
