#!/usr/bin/env python3
"""The old system's ingestion pipeline, for scripts/bench-ingest.sh.

Loads every .pdf / .txt file under DIR (sorted, recursively) the way the old LangChain stack did:
PDFMinerLoader for .pdf, TextLoader(encoding="utf8") for .txt, then splits all loaded documents
with RecursiveCharacterTextSplitter(chunk_size=512, chunk_overlap=64).
Prints one JSON line: files, docs (LangChain Documents loaded), chunks, load_s, split_s, seconds
(load + split, timed inside the process after imports).
Usage: old_pipeline.py DIR
"""
import json
import os
import sys
import time
import warnings

# langchain-community 0.4 warns on import that it is being sunset; the old system predates that.
warnings.filterwarnings("ignore", category=DeprecationWarning)
from langchain_community.document_loaders import PDFMinerLoader, TextLoader
from langchain_text_splitters import RecursiveCharacterTextSplitter


def files_under(root):
    out = []
    for d, _dirs, names in os.walk(root):
        for n in names:
            if n.lower().endswith((".pdf", ".txt")):
                out.append(os.path.join(d, n))
    return sorted(out)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    paths = files_under(argv[1])
    splitter = RecursiveCharacterTextSplitter(chunk_size=512, chunk_overlap=64)
    t0 = time.perf_counter()
    docs = []
    for p in paths:
        if p.lower().endswith(".pdf"):
            loader = PDFMinerLoader(p)
        else:
            loader = TextLoader(p, encoding="utf8")
        docs.extend(loader.load())
    t1 = time.perf_counter()
    chunks = splitter.split_documents(docs)
    t2 = time.perf_counter()
    print(json.dumps({"files": len(paths), "docs": len(docs), "chunks": len(chunks),
                      "load_s": round(t1 - t0, 4), "split_s": round(t2 - t1, 4),
                      "seconds": round(t2 - t0, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
