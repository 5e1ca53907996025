#!/usr/bin/env python3
"""Write one UTF-8 .txt file per non-empty line of CORPUS into OUT_DIR (line_00001.txt, ...).
Usage: explode_lines.py CORPUS OUT_DIR   Prints the number of files written."""
import os
import sys

corpus, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
n = 0
with open(corpus, encoding="utf-8") as f:
    for i, line in enumerate(f, 1):
        if not line.strip():
            continue
        with open(os.path.join(out, f"line_{i:05d}.txt"), "w", encoding="utf-8") as g:
            g.write(line.rstrip("\n") + "\n")
        n += 1
print(n)
