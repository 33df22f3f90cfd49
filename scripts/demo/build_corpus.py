#!/usr/bin/env python3
"""Turns the PostgreSQL manual (Debian package postgresql-doc-15) plus the
Korean sample into JSON batches for rag_upsert_documents(jsonb).

One document per HTML page: doc_id "pgdoc:<file name>", title from <title>
(the section number moves to metadata), text without the navigation
header/footer, paragraphs separated by blank lines so the extension's
paragraph-aware chunker sees the page structure.

Pages are taken in the manual's reading order (following the "next" links
from index.html; pages outside that chain come last, by name), so a slice
of the first N pages is a coherent part of the book and the same on every
machine.

Usage: build_corpus.py OUT_DIR [--pages N] [--batch-chars C] [--extra FILE]...
Writes OUT_DIR/batch-0001.json, ... (JSON arrays) and prints a summary line.
Stdlib only.
"""
import argparse
import html
import json
import os
import re
import sys
from html.parser import HTMLParser

DOC_DIR = "/usr/share/doc/postgresql-doc-15/html"

# Elements that end a paragraph; text inside inline elements is joined.
BLOCK = {
    "p", "div", "pre", "table", "tr", "li", "dt", "dd", "dl", "ul", "ol",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "br", "hr", "td", "th",
}
# Subtrees dropped whole: boilerplate and non-text.
SKIP_TAGS = {"script", "style", "head", "title"}
SKIP_CLASSES = {"navheader", "navfooter"}
VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"}


class PageText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.next_href = None
        self.paras = []      # finished paragraphs
        self.cur = []        # text pieces of the paragraph being built
        self.stack = []      # (tag, skipping) for open elements
        self.skip_depth = 0  # >0 while inside a dropped subtree
        self.pre_depth = 0
        self.in_title = False

    def _flush(self):
        text = "".join(self.cur)
        self.cur = []
        if self.pre_depth == 0:
            text = re.sub(r"\s+", " ", text)
        text = text.strip("\n").rstrip()
        if text.strip():
            self.paras.append(text.strip() if self.pre_depth == 0 else text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "next":
            self.next_href = a.get("href")
        if tag == "title":
            self.in_title = True
        if tag in VOID:
            if tag in BLOCK and not self.skip_depth:
                self._flush()
            return
        classes = set((a.get("class") or "").split())
        skipping = bool(self.skip_depth) or tag in SKIP_TAGS or bool(classes & SKIP_CLASSES)
        if skipping:
            self.skip_depth += 1
        elif tag in BLOCK:
            self._flush()
        if tag == "pre" and not skipping:
            self.pre_depth += 1
        self.stack.append((tag, skipping))

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag in VOID:
            return
        # Pop to the matching tag (XHTML here is well formed; be tolerant anyway).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for t, skipping in reversed(self.stack[i:]):
                    if skipping:
                        self.skip_depth -= 1
                    else:
                        if t in BLOCK:
                            self._flush()
                        if t == "pre":
                            self.pre_depth -= 1
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skip_depth:
            self.cur.append(data)

    def result(self):
        self._flush()
        return "\n\n".join(self.paras)


def parse_page(path):
    p = PageText()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    p.close()
    return p


def reading_order(doc_dir):
    """File names in the manual's reading order, then the rest by name."""
    names = sorted(n for n in os.listdir(doc_dir) if n.endswith(".html"))
    present = set(names)
    order, seen = [], set()
    cur = "index.html"
    while cur in present and cur not in seen:
        seen.add(cur)
        order.append(cur)
        with open(os.path.join(doc_dir, cur), encoding="utf-8") as f:
            m = re.search(r'<link rel="next" href="([^"#]+)', f.read(4096))
        cur = m.group(1) if m else None
    return order + [n for n in names if n not in seen]


def manual_docs(doc_dir, pages):
    names = reading_order(doc_dir)
    if pages > 0:
        names = names[:pages]
    for name in names:
        p = parse_page(os.path.join(doc_dir, name))
        title = re.sub(r"\s+", " ", html.unescape(p.title)).strip()
        meta = {"lang": "en", "source": "postgresql-manual"}
        # "11.2. Index Types" -> title "Index Types", section "11.2"
        m = re.match(r"^((?:Chapter|Part|Appendix)\s+)?([0-9A-Z]+(?:\.[0-9]+)*)\.\s+(.+)$", title)
        if m and (m.group(1) or re.match(r"^[0-9]|^[A-Z]\.", m.group(2) + ".")):
            meta["section"] = m.group(2)
            title = m.group(3)
        yield {
            "doc_id": "pgdoc:" + name[: -len(".html")],
            "title": title or name,
            "content": p.result(),
            "metadata": meta,
            "source": "postgresql-doc-15/" + name,
        }


def batches(docs, max_chars):
    """Groups documents so each rag_upsert_documents call stays moderate."""
    out, size = [], 0
    for d in docs:
        n = len(d["content"]) + len(d["title"]) + 200
        if out and size + n > max_chars:
            yield out
            out, size = [], 0
        out.append(d)
        size += n
    if out:
        yield out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--pages", type=int, default=0, help="first N pages in reading order; 0 = all")
    ap.add_argument("--batch-chars", type=int, default=2_000_000)
    ap.add_argument("--extra", action="append", default=[], help="JSON array(s) of more documents (the Korean sample)")
    ap.add_argument("--doc-dir", default=DOC_DIR)
    a = ap.parse_args()

    if not os.path.isdir(a.doc_dir):
        sys.exit("build_corpus: %s is missing (apt-get install postgresql-doc-15)" % a.doc_dir)
    docs = list(manual_docs(a.doc_dir, a.pages))
    n_manual = len(docs)
    for path in a.extra:
        with open(path, encoding="utf-8") as f:
            docs.extend(json.load(f))

    os.makedirs(a.out_dir, exist_ok=True)
    for old in os.listdir(a.out_dir):
        if old.startswith("batch-") and old.endswith(".json"):
            os.remove(os.path.join(a.out_dir, old))
    nb = 0
    for nb, batch in enumerate(batches(docs, a.batch_chars), 1):
        with open(os.path.join(a.out_dir, "batch-%04d.json" % nb), "w", encoding="utf-8") as f:
            json.dump(batch, f, ensure_ascii=False)
    chars = sum(len(d["content"]) for d in docs)
    print("%d manual pages + %d other documents, %d characters, %d batch file(s)"
          % (n_manual, len(docs) - n_manual, chars, nb))


if __name__ == "__main__":
    main()
