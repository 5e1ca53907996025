#!/usr/bin/env bash
# Fuzzes every lexinaut-extract reader with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   long run, default 60 s per target (15 targets)
#   scripts/fuzz.sh --ci                   short run for the test suite: 3 s per target (~75 s warm)
#   FUZZ_TARGETS="pdf docx" scripts/fuzz.sh 300   only some targets
#
# Installs cargo-fuzz if missing, builds all targets (fuzz/target), prepares the seed corpora
# (fuzz/corpus/<target>/: tiny generated seeds, plus links to ../shared/data/samples when that
# folder exists; nothing is copied from it), runs each target, prints a summary table and exits
# non-zero if any target crashed, timed out or ran out of memory. The input that did it is in
# fuzz/artifacts/<target>/; replay it with  fuzz/target/$TRIPLE/release/<target> <file>.
#
# Stable Rust: cargo-fuzz needs nightly-only -Z flags, so the build sets RUSTC_BOOTSTRAP=1 on the
# project's stable toolchain. Set FUZZ_TOOLCHAIN=nightly to use a nightly toolchain instead.
#
# OCR never runs while fuzzing: the PDF reader would render and recognize every textless page
# with pdftoppm + tesseract, which it looks for on PATH *and* in /usr/bin, /usr/local/bin and
# /opt/homebrew/bin. The fuzz binaries run with PATH=/nonexistent and TESSDATA_PREFIX pointing
# at an empty folder (so tesseract, if still found, lists no languages and the probe says no);
# when we may create a private mount namespace (root + unshare), the installed tools are also
# hidden there by bind-mounting /dev/null over them, so not even the probe is spawned.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

ALL_TARGETS="pdf doc ppt docx pptx odt epub xlsx xls csv html eml enex text markdown"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
CARGO_FUZZ_VERSION=0.13.2
TRIPLE=x86_64-unknown-linux-gnu
case "$(uname -m)" in aarch64 | arm64) TRIPLE=aarch64-unknown-linux-gnu ;; esac

if [[ ${1:-} == --ci ]]; then
    SECONDS_PER_TARGET=3
elif [[ ${1:-} =~ ^[0-9]+$ ]]; then
    SECONDS_PER_TARGET=$1
elif [[ -z ${1:-} ]]; then
    SECONDS_PER_TARGET=60
else
    echo "usage: $0 [SECONDS_PER_TARGET | --ci]" >&2
    exit 2
fi

START=$(date +%s)
step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$(($(date +%s) - START))" >&2; }

# --- cargo-fuzz ---------------------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    step "Installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# --- build --------------------------------------------------------------------------------
step "Building fuzz targets ($(cargo fuzz --version))"
if [[ -n ${FUZZ_TOOLCHAIN:-} ]]; then
    (cd fuzz && cargo "+$FUZZ_TOOLCHAIN" fuzz build --target "$TRIPLE")
else
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --target "$TRIPLE")
fi
BIN_DIR=$ROOT/fuzz/target/$TRIPLE/release

# --- seed corpora -------------------------------------------------------------------------
step "Preparing seed corpora in fuzz/corpus/"
SAMPLES=$ROOT/../shared/data/samples

# The file extensions each target reads (as Format::from_path maps them).
extensions() {
    case $1 in
        text) echo "txt text" ;;
        markdown) echo "md markdown" ;;
        html) echo "html htm xhtml" ;;
        xlsx) echo "xlsx xlsm" ;;
        *) echo "$1" ;;
    esac
}

# seed TARGET NAME  -- stdin becomes fuzz/corpus/TARGET/gen-NAME
seed() { cat >"fuzz/corpus/$1/gen-$2"; }

make_seeds() {
    local t
    for t in $TARGETS; do mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"; done
    printf 'Hello, world.\nSecond line.\n' | seed text utf8 2>/dev/null || true
    printf '\xef\xbb\xbf\xe4\xb8\xad\xe6\x96\x87\r\nline\r\n' | seed text bom 2>/dev/null || true
    printf '\xd6\xd0\xce\xc4\xb2\xe2\xca\xd4\n' | seed text gbk 2>/dev/null || true
    printf '# Title\n\nSome *text*, a [link](x) and `code`.\n\n## Sub\n\n- a\n- b\n\n| a | b |\n|---|---|\n| 1 | 2 |\n' \
        | seed markdown basic 2>/dev/null || true
    printf 'name,amount,note\n"Li, Wei",12.5,"say ""hi"""\n\xe5\xbc\xa0,3,\n' | seed csv basic 2>/dev/null || true
    printf '<!DOCTYPE html><html><head><meta charset="gbk"><title>T</title></head><body><h1>H</h1><p>a<br>b</p><script>x()</script><table><tr><td>1</td></tr></table></body></html>' \
        | seed html basic 2>/dev/null || true
    printf 'From: A <a@example.com>\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?5rWL6K+V?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=D6=D0=CE=C4\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--XX--\r\n' \
        | seed eml multipart 2>/dev/null || true
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE en-export SYSTEM "http://xml.evernote.com/pub/evernote-export3.dtd">\n<en-export><note><title>One</title><content><![CDATA[<?xml version="1.0"?><en-note><div>Hello</div><ul><li>x</li></ul></en-note>]]></content></note><note><title>Two</title><content><![CDATA[<en-note>b</en-note>]]></content></note></en-export>\n' \
        | seed enex basic 2>/dev/null || true
    # OLE2 (compound file) header only: the readers' first hurdle.
    for t in doc ppt xls; do
        printf '\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1' | seed "$t" ole-magic 2>/dev/null || true
    done
    # Tiny but well-formed PDF and zip-based documents, if python3 is available.
    if command -v python3 >/dev/null; then
        python3 - "$TARGETS" <<'PY' || echo "warning: could not generate the binary seeds" >&2
import io, sys, zipfile
targets = set(sys.argv[1].split())
def put(target, name, data):
    if target in targets:
        open(f"fuzz/corpus/{target}/gen-{name}", "wb").write(data)
def pdf():
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            None,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Title (Seed) >>"]
    stream = b"BT /F1 12 Tf 20 150 Td (Hello PDF) Tj T* (line two) Tj ET"
    objs[3] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, o)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)
def zipped(files, stored_first=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if stored_first:
            z.writestr(zipfile.ZipInfo(stored_first[0]), stored_first[1], zipfile.ZIP_STORED)
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()
CT = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
put("pdf", "hello", pdf())
put("docx", "hello", zipped({
    "[Content_Types].xml": CT,
    "word/document.xml": f'<?xml version="1.0"?><w:document {W}><w:body>'
        '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Title</w:t></w:r></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">Hello </w:t></w:r><w:r><w:tab/><w:t>docx</w:t></w:r></w:p>'
        '<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>'
        '</w:body></w:document>'}))
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
put("pptx", "hello", zipped({
    "[Content_Types].xml": CT,
    "ppt/presentation.xml": f'<?xml version="1.0"?><p:presentation {P} {R}><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>',
    "ppt/_rels/presentation.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/></Relationships>',
    "ppt/slides/slide1.xml": f'<?xml version="1.0"?><p:sld {P} {A}><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Slide title</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>'}))
put("xlsx", "hello", zipped({
    "[Content_Types].xml": CT,
    "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" {R}><sheets><sheet name="S1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    "xl/worksheets/sheet1.xml": '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1"><v>42</v></c></row></sheetData></worksheet>'}))
ODF = ('mimetype', 'application/vnd.oasis.opendocument.text')
put("odt", "hello", zipped({
    "content.xml": '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text><text:h text:outline-level="1">Title</text:h><text:p>Hello <text:s/>odt<text:tab/>x</text:p></office:text></office:body></office:document-content>',
    "meta.xml": '<?xml version="1.0"?><office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Seed</dc:title></office:meta></office:document-meta>'},
    stored_first=ODF))
put("epub", "hello", zipped({
    "META-INF/container.xml": '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>',
    "OEBPS/content.opf": '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Seed</dc:title></metadata><manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="c1"/></spine></package>',
    "OEBPS/c1.xhtml": '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Ch 1</title></head><body><h1>Chapter</h1><p>Hello epub</p></body></html>'},
    stored_first=('mimetype', 'application/epub+zip')))
PY
    fi
    # The shared samples, linked (never copied) into each target's corpus by extension.
    if [[ -d $SAMPLES ]]; then
        local f ext base
        for t in $TARGETS; do
            find "fuzz/corpus/$t" -maxdepth 1 -type l -name 'sample-*' -delete
            for ext in $(extensions "$t"); do
                while IFS= read -r -d '' f; do
                    [[ -s $f ]] || continue
                    base=${f#"$SAMPLES"/}
                    ln -sf "$f" "fuzz/corpus/$t/sample-${base//\//_}"
                done < <(find "$SAMPLES" -type f -iname "*.$ext" -print0)
            done
        done
    else
        echo "note: $SAMPLES not found; using the generated seeds only" >&2
    fi
}
make_seeds

# --- OCR guard ----------------------------------------------------------------------------
EMPTY_TESSDATA=$ROOT/fuzz/target/empty-tessdata
mkdir -p "$EMPTY_TESSDATA"
OCR_TOOLS=()
while IFS= read -r dir; do
    for tool in pdftoppm tesseract; do
        [[ -n $dir && -f $dir/$tool ]] && OCR_TOOLS+=("$dir/$tool")
    done
done < <(printf '%s\n' "/opt/homebrew/bin" "/usr/local/bin" "/usr/bin" && tr ':' '\n' <<<"$PATH")
if ((${#OCR_TOOLS[@]})); then
    mapfile -t OCR_TOOLS < <(printf '%s\n' "${OCR_TOOLS[@]}" | sort -u)
fi
HIDE_OCR=0
if ((${#OCR_TOOLS[@]})) && [[ $(id -u) == 0 ]] && unshare --mount true 2>/dev/null; then
    HIDE_OCR=1
    echo "OCR tools hidden from the fuzzers in a private mount namespace: ${OCR_TOOLS[*]}" >&2
elif ((${#OCR_TOOLS[@]})); then
    echo "warning: ${OCR_TOOLS[*]} cannot be hidden (needs root + unshare); the PDF reader will" \
        "spawn 'tesseract --list-langs' for textless pages (TESSDATA_PREFIX makes it answer no)." >&2
fi

# run_target TARGET LOG: runs one fuzzer with OCR out of reach; returns libFuzzer's status.
run_target() {
    local t=$1 log=$2 status=0
    local -a fuzzer=(
        env -i "PATH=/nonexistent" "HOME=$HOME" "TESSDATA_PREFIX=$EMPTY_TESSDATA"
        "RUST_BACKTRACE=1" "ASAN_OPTIONS=${ASAN_OPTIONS:-}"
        "ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer || true)"
        "$BIN_DIR/$t"
        "-max_total_time=$SECONDS_PER_TARGET" -max_len=1048576 -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 "-artifact_prefix=fuzz/artifacts/$t/" "fuzz/corpus/$t"
    )
    # A run that hangs outside libFuzzer's own -timeout is stopped as well.
    local -a watchdog=(timeout --kill-after=10 "$((SECONDS_PER_TARGET + 120))")
    if ((HIDE_OCR)); then
        "${watchdog[@]}" unshare --mount sh -c '
            n=$1; shift
            while [ "$n" -gt 0 ]; do mount --bind /dev/null "$1" || exit 97; shift; n=$((n - 1)); done
            exec "$@"' sh "${#OCR_TOOLS[@]}" "${OCR_TOOLS[@]}" "${fuzzer[@]}" >"$log" 2>&1 || status=$?
    else
        "${watchdog[@]}" "${fuzzer[@]}" >"$log" 2>&1 || status=$?
    fi
    return "$status"
}

# --- fuzz ---------------------------------------------------------------------------------
step "Fuzzing $(wc -w <<<"$TARGETS") targets, ${SECONDS_PER_TARGET}s each"
LOG_DIR=$ROOT/fuzz/target/logs
mkdir -p "$LOG_DIR"
ROWS=()
FAILED=0
stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
for t in $TARGETS; do
    log=$LOG_DIR/$t.log
    t0=$(date +%s)
    status=0
    run_target "$t" "$log" || status=$?
    secs=$(($(date +%s) - t0))
    execs=$(stat_of number_of_executed_units "$log")
    rate=$(stat_of average_exec_per_sec "$log")
    rss=$(stat_of peak_rss_mb "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(find "fuzz/corpus/$t" -maxdepth 1 \( -type f -o -type l \) | wc -l)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if ((status == 0)); then
        result=ok
    else
        FAILED=1
        kind=$(grep -oE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+' "$log" | head -1 | awk '{print $NF}')
        [[ -z $kind ]] && grep -q 'panicked at' "$log" && kind=panic
        result="FAIL(${kind:-exit $status})"
        echo "---- $t: $result; log $log" >&2
        grep -m1 -A3 -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$log" >&2 || tail -20 "$log" >&2
    fi
    ROWS+=("$(printf '%-9s %5s %9s %7s %6s %6s %6s  %-22s %s' \
        "$t" "$secs" "${execs:--}" "${rate:--}" "${cov:--}" "$corp" "${rss:--}" "$result" "${artifact:-}")")
done

step "Summary"
printf '%-9s %5s %9s %7s %6s %6s %6s  %-22s %s\n' \
    target secs execs exec/s cov corpus rss_mb result artifact
printf '%s\n' "${ROWS[@]}"
echo "logs: $LOG_DIR/<target>.log; total $(($(date +%s) - START))s"
if ((FAILED)); then
    echo "FUZZING FOUND PROBLEMS: reproduce with $BIN_DIR/<target> <artifact>" >&2
    exit 1
fi
