#!/usr/bin/env python3
"""Reads QR codes with ZXing-C++ (pip zxing-cpp) for the keyceremony QR benchmark.

Input: image paths on stdin, one per line. Output: one JSON object per line,
{"file": path, "texts": [...], "ms": milliseconds for the decode alone}.
"""
import json
import sys
import time

import zxingcpp
from PIL import Image

for line in sys.stdin:
    path = line.rstrip("\n")
    if not path:
        continue
    img = Image.open(path)
    img.load()
    start = time.perf_counter()
    try:
        results = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
        texts = [r.text for r in results if r.valid]
    except Exception as e:  # a reader failure counts as not read
        texts = []
    ms = (time.perf_counter() - start) * 1000.0
    print(json.dumps({"file": path, "texts": texts, "ms": ms}), flush=True)
