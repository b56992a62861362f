#!/usr/bin/env python3
"""An independent implementation of the Nexus backup format, for interop tests.

    salt(16) || nonce(12) || AES-256-GCM(tar.gz) || tag(16)
    key = Argon2id(passphrase, salt, t=1, m=64 MiB, p=4, 32 bytes)

Written from the format description only (argon2-cffi, cryptography, and the
standard library's tarfile/gzip); it shares no code with keyceremony.

  nexus_backup.py seal --passphrase-file F --out FILE [--key-file K --label L] SRC_DIR
      Archive every file below SRC_DIR (relative names). With --key-file, make
      a full keyceremony bundle: keys/root.key and manifest.json are added.
  nexus_backup.py open --passphrase-file F --out DIR FILE
      Check the tag, then extract (refusing links, devices, absolute paths and
      '..'); if manifest.json is present, check every hash and the fingerprint.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def read_passphrase(path):
    data = open(path, "rb").read()
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    return data


def derive(passphrase, salt):
    return hash_secret_raw(passphrase, salt, time_cost=1, memory_cost=65536,
                           parallelism=4, hash_len=32, type=Type.ID)


def fingerprint(key_hex):
    k = int(key_hex, 16)
    pub = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    d = hashlib.sha256(b"keyceremony/key-fingerprint/v1" + pub).hexdigest()[:20]
    return "-".join(d[i:i + 4] for i in range(0, 20, 4))


def seal(args):
    files = []
    for root, _dirs, names in os.walk(args.src):
        for n in sorted(names):
            full = os.path.join(root, n)
            files.append((os.path.relpath(full, args.src), open(full, "rb").read()))
    files.sort()
    if args.key_file:
        key_hex = open(args.key_file).read().strip().lower()
        key_line = (key_hex + "\n").encode()
        files.insert(0, ("keys/root.key", key_line))
        manifest = {
            "format": "keyceremony-bundle",
            "version": 1,
            "ceremony_id": None,
            "label": args.label,
            "key_fingerprint": fingerprint(key_hex),
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                      for p, d in files],
        }
        files.append(("manifest.json", json.dumps(manifest, indent=2).encode()))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p, d in files:
            info = tarfile.TarInfo(p)
            info.size = len(d)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(d))
    compressed = gzip.compress(raw.getvalue())
    salt, nonce = os.urandom(16), os.urandom(12)
    key = derive(read_passphrase(args.passphrase_file), salt)
    sealed = AESGCM(key).encrypt(nonce, compressed, None)
    with open(args.out, "wb") as f:
        f.write(salt + nonce + sealed)
    print(f"sealed {len(files)} files into {args.out}")


def open_(args):
    blob = open(args.file, "rb").read()
    if len(blob) < 44:
        sys.exit("too short for a Nexus backup")
    salt, nonce, body = blob[:16], blob[16:28], blob[28:]
    key = derive(read_passphrase(args.passphrase_file), salt)
    try:
        compressed = AESGCM(key).decrypt(nonce, body, None)
    except InvalidTag:
        sys.exit("wrong passphrase or damaged file (tag mismatch)")
    contents = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(compressed)), mode="r:") as tar:
        for m in tar.getmembers():
            if m.isdir():
                continue
            if not m.isfile() or m.name.startswith("/") or ".." in m.name.split("/"):
                sys.exit(f"refused entry {m.name!r}")
            contents[m.name] = tar.extractfile(m).read()
    if "manifest.json" in contents:
        manifest = json.loads(contents["manifest.json"])
        assert manifest["format"] == "keyceremony-bundle" and manifest["version"] == 1
        listed = {f["path"]: f for f in manifest["files"]}
        assert set(listed) == set(contents) - {"manifest.json"}, "file set differs from manifest"
        for p, f in listed.items():
            assert f["size"] == len(contents[p]), p
            assert f["sha256"] == hashlib.sha256(contents[p]).hexdigest(), p
        key_hex = contents["keys/root.key"].decode()
        assert len(key_hex) == 65 and key_hex.endswith("\n")
        assert fingerprint(key_hex.strip()) == manifest["key_fingerprint"], "fingerprint"
        print(f"manifest ok, key fingerprint {manifest['key_fingerprint']}")
    os.makedirs(args.out, exist_ok=True)
    for p, d in contents.items():
        target = os.path.join(args.out, p)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "wb") as f:
            f.write(d)
        print(f"{len(d):>12}  {p}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seal")
    s.add_argument("--passphrase-file", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--key-file")
    s.add_argument("--label", default="from python")
    s.add_argument("src")
    o = sub.add_parser("open")
    o.add_argument("--passphrase-file", required=True)
    o.add_argument("--out", required=True)
    o.add_argument("file")
    args = ap.parse_args()
    seal(args) if args.cmd == "seal" else open_(args)


if __name__ == "__main__":
    main()
