#!/usr/bin/env python3
"""Reads QR codes with a peer decoder for the keyceremony QR benchmark.

Usage: qr_peer_read.py zxing|zbar|opencv|opencv-aruco
  zxing         ZXing-C++ (pip zxing-cpp), read_barcodes restricted to QR codes
  zbar          zbar (pip pyzbar over Debian's libzbar0, the library zbarimg uses),
                QR codes only
  opencv        OpenCV's QRCodeDetector (pip opencv-python-headless),
                detectAndDecodeMulti, then detectAndDecode when that finds nothing
  opencv-aruco  the same with OpenCV's QRCodeDetectorAruco

Input: image paths on stdin, one per line. Output: one JSON object per line,
{"file": path, "texts": [...], "ms": milliseconds for the decode alone},
written as soon as the image is read (the benchmark hands out images one at
a time).
One thread, like keyceremony's decoder.
"""
import json
import sys
import time


def zxing_reader():
    import zxingcpp
    from PIL import Image

    def load(path):
        img = Image.open(path)
        img.load()
        return img

    def read(img):
        results = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
        return [r.text for r in results if r.valid]

    return load, read


def zbar_reader():
    from PIL import Image
    from pyzbar import pyzbar

    def load(path):
        img = Image.open(path).convert("L")
        img.load()
        return img

    def read(img):
        results = pyzbar.decode(img, symbols=[pyzbar.ZBarSymbol.QRCODE])
        return [r.data.decode("utf-8", "replace") for r in results]

    return load, read


def opencv_reader(aruco):
    import cv2

    cv2.setNumThreads(1)
    detector = cv2.QRCodeDetectorAruco() if aruco else cv2.QRCodeDetector()

    def load(path):
        return cv2.imread(path, cv2.IMREAD_GRAYSCALE)

    def read(img):
        ok, infos, _, _ = detector.detectAndDecodeMulti(img)
        texts = [t for t in infos if t] if ok else []
        if not texts:
            text, _, _ = detector.detectAndDecode(img)
            if text:
                texts = [text]
        return texts

    return load, read


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "zxing"
    if which == "zxing":
        load, read = zxing_reader()
    elif which == "zbar":
        load, read = zbar_reader()
    elif which in ("opencv", "opencv-aruco"):
        load, read = opencv_reader(which == "opencv-aruco")
    else:
        sys.exit(f"unknown reader {which}")
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        path = line.rstrip("\n")
        if not path:
            continue
        img = load(path)
        start = time.perf_counter()
        try:
            texts = read(img)
        except Exception:  # a reader failure counts as not read
            texts = []
        ms = (time.perf_counter() - start) * 1000.0
        print(json.dumps({"file": path, "texts": texts, "ms": ms}), flush=True)


if __name__ == "__main__":
    main()
